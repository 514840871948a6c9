"""The same full-page dumps through other cleaners, for the leave-one-site-out table.

- `trafilatura`: trafilatura.extract on the dump, each line given as a paragraph (<p>) of an HTML page;
- `justext`: jusText with its Vietnamese stop list on the same HTML (`pip install justext`: a benchmark
  dependency only);
- `all_lines`: every line kept.
Each returns {stem: {"text", "meta", "dropped"}} like train.run_pipeline, so `train.score` scores them.
"""

from __future__ import annotations

import html


def _as_html(lines: list[str]) -> str:
    body = "\n".join(f"<p>{html.escape(line.strip())}</p>" for line in lines if line.strip())
    return f"<html><head><meta charset='utf-8'></head><body>{body}</body></html>"


def trafilatura_on_dump(pages) -> dict:
    import trafilatura

    out = {}
    for page in pages:
        text = trafilatura.extract(_as_html(page.lines), include_comments=False) or ""
        out[page.stem] = {"text": text, "meta": {}, "dropped": None if text else "empty"}
    return out


def justext_on_dump(pages) -> dict:
    import justext

    stop = justext.get_stoplist("Vietnamese")
    out = {}
    for page in pages:
        paras = justext.justext(_as_html(page.lines).encode("utf-8"), stop, encoding="utf-8")
        text = "\n".join(p.text for p in paras if not p.is_boilerplate)
        out[page.stem] = {"text": text, "meta": {}, "dropped": None if text else "empty"}
    return out


def all_lines(pages) -> dict:
    return {p.stem: {"text": "\n".join(p.lines), "meta": {}, "dropped": None} for p in pages}


BASELINES = {"trafilatura": trafilatura_on_dump, "justext": justext_on_dump, "all_lines": all_lines}
