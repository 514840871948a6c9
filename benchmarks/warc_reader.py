"""WARC reader benchmark: the 495 real pages of ../shared/bench/extraction packed into a WARC.

    .venv/bin/python benchmarks/warc_reader.py [--pages ../shared/bench/extraction/pages]
        [--copies 10] [--json benchmarks/results/warc_reader.json]

Writes the pages (their original bytes and encodings) as response records, each after a
request record, per-record gzip, `--copies` times over (distinct record ids), and measures:
warcio iterating alone (baseline), `WarcReader.count` (what the planner pays to split a
big archive), `WarcReader.read` (documents with payloads), the same + `decode`, and the cost of
reading the last of 4 record ranges (a task skips the records before its range). Then it
checks, through the configured steps, that each page read from the WARC gives the same
text as the same bytes read as an `.html` file.
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

ROOT = Path(__file__).resolve().parents[1]


def record(rec_type: str, uri: str, block: bytes, rid: str, content_type: str) -> bytes:
    head = (
        f"WARC/1.1\r\nWARC-Type: {rec_type}\r\nWARC-Record-ID: <urn:uuid:{rid}>\r\n"
        f"WARC-Date: 2025-01-30T08:00:00Z\r\nWARC-Target-URI: {uri}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(block)}\r\n\r\n"
    ).encode()
    return gzip.compress(head + block + b"\r\n\r\n", compresslevel=6)


def build(pages: list[Path], copies: int, path: Path) -> int:
    n = 0
    with open(path, "wb") as out:
        for copy in range(copies):
            for page in pages:
                stem = page.name.removesuffix(".html.gz")
                uri = f"https://bench.invalid/{stem}"  # no site rules apply, as for a saved .html file
                body = gzip.decompress(page.read_bytes())
                http = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                out.write(
                    record(
                        "request",
                        uri,
                        f"GET /{stem} HTTP/1.1\r\n\r\n".encode(),
                        f"q{copy}-{stem}",
                        "application/http; msgtype=request",
                    )
                )
                out.write(
                    record(
                        "response", uri, http + body, f"r{copy}-{stem}", "application/http; msgtype=response"
                    )
                )
                n += 1
    return n


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", default=str(ROOT.parent / "shared/bench/extraction/pages"))
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    from pipeline.s1_read.decode import Decode
    from pipeline.s1_read.warc import WarcReader

    pages = sorted(Path(args.pages).glob("*.html.gz"))
    if not pages:
        raise SystemExit(f"no pages under {args.pages}")
    options = {"max_bytes": 50 << 20}
    with tempfile.TemporaryDirectory() as tmp:
        warc = Path(tmp) / "bench.warc.gz"
        n = build(pages, args.copies, warc)
        size = warc.stat().st_size

        def warcio_only():
            with open(warc, "rb") as fh:
                return sum(
                    len(r.content_stream().read()) for r in ArchiveIterator(fh) if r.rec_type == "response"
                )

        def read(start=0, stop=None, decode=False):
            step, kept = Decode(), 0
            provenance = {"input_path": "bench.warc.gz"}
            for doc in WarcReader(options).read(warc, provenance, start=start, stop=stop):
                if decode:
                    step.process(doc)
                kept += not doc.dropped
            return kept

        figures = {"pages": n, "warc_mb": round(size / 1e6, 1)}
        for name, fn in [
            ("warcio_alone", warcio_only),
            ("count_warc_records", lambda: WarcReader(options).count(warc)),
            ("read_warc", read),
            ("read_warc+decode", lambda: read(decode=True)),
            ("last_of_4_ranges", lambda: read(start=3 * n // 4, stop=n)),
        ]:
            seconds, result = timed(fn)
            figures[name] = {"seconds": round(seconds, 3), "docs_per_s": round(n / seconds)}
            print(f"{name:20} {seconds:7.2f} s  {n / seconds:8.0f} records/s  ({result})")
        figures["same_text_as_html_files"] = same_text(pages, Path(tmp))
        print(f"same text as .html files: {figures['same_text_as_html_files']}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


def same_text(pages: list[Path], tmp: Path) -> dict:
    """Each page through the configured per-document steps, read from the WARC and as an .html file."""
    from pipeline.config import load_config
    from pipeline.runner import build_steps
    from pipeline.s1_read.html import HtmlReader
    from pipeline.s1_read.warc import WarcReader

    config = load_config(ROOT / "config" / "default.yaml")
    steps = [s for s in build_steps(config) if s.name in ("decode", "extract_html")]
    warc = tmp / "one.warc.gz"
    build(pages, 1, warc)
    from_warc = {
        d.id.split("-", 1)[1]: d
        for d in WarcReader({"max_bytes": 50 << 20}).read(warc, {"input_path": "one.warc.gz"})
    }
    same = differ = 0
    for page in pages:
        stem = page.name.removesuffix(".html.gz")
        [html_doc] = HtmlReader({"max_bytes": 50 << 20}).read(page, {"input_path": page.name})
        outcome = []
        for doc in (from_warc[stem], html_doc):
            docs = [doc]
            for step in steps:
                docs = list(step.run(docs))
            outcome.append((doc.drop_reason, doc.text if not doc.dropped else ""))
        same += outcome[0] == outcome[1]
        differ += outcome[0] != outcome[1]
    return {"same": same, "differ": differ}


if __name__ == "__main__":
    main()
