"""template_lines: lines a site repeats on many different pages are its template, not an article.

A menu item, a footer line, a widget label or "Tin cùng chuyên mục" stand on every
page of a site; an article's sentences stand on one (or on its copies). The step
counts, per source (the site from the URL, else the input folder), in how many
*different* documents each line occurs, and removes the lines that pass
`min_docs` with the reason `template_line`.

"Different" matters: three copies of one article must not turn its paragraphs into
template. Each document gets a SimHash of its lines (weighted by length², so the
long article paragraphs dominate the short template lines): copies of one article
have nearly equal SimHashes, two articles of one site do not. A line counts one
more document only when that document is not a near-copy (SimHash within
`copy_bits` bits) of one already counted for it.

Counting covers the documents of one task (the run's unit of work: `run.task_size`
records or files, cut the same way for any number of workers, so the output does
not depend on them): the step reads its task's documents once to count, then
cleans them. Only lines up to `max_chars` long are counted (template lines are
short; long paragraphs are the article's), which bounds the table.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import numpy as np
import xxhash

from pipeline.document import Document
from pipeline.options import Schema
from pipeline.s3_clean.lines import remove_line, split_lines
from pipeline.step import Step

_WORD = re.compile(r"\w+")


def line_key(text: str) -> int:
    return xxhash.xxh3_64_intdigest(" ".join(_WORD.findall(text.casefold())))


def source_key(doc: Document) -> str:
    url = doc.metadata.get("url")
    host = urlsplit(url).hostname if url else None
    if host:
        return host.removeprefix("www.")
    return doc.metadata.get("sitename") or str(doc.provenance.get("input_root") or "")


def simhash(keys: list[int], weights: list[float]) -> int:
    if not keys:
        return 0
    bits = (np.array(keys, dtype=np.uint64)[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
    votes = (np.where(bits == 1, 1.0, -1.0) * np.array(weights)[:, None]).sum(0)
    return int(sum(1 << b for b in range(64) if votes[b] > 0))


class TemplateLines(Step):
    name = "template_lines"
    pipeline_stage = "clean"

    class Options(Schema):
        min_docs: int = 2  # a line in at least this many different documents of one source is template
        max_chars: int = 200  # longer lines are never counted (article paragraphs)
        copy_bits: int = 8  # SimHashes this close (of 64 bits) are copies of one document

    def run(self, docs):
        batch = list(docs)  # the task's documents: counted first, then cleaned
        self._count_lines(batch)
        yield from super().run(iter(batch))

    def _count_lines(self, batch: list[Document]) -> None:
        """For each (source, line key): SimHashes of the different documents it was seen in (up to min_docs)."""
        opts = self.options
        self._table: dict[tuple[str, int], list[int]] = {}
        for doc in batch:
            if doc.dropped:
                continue
            lines = [line.strip() for line in split_lines(doc) if line.strip()]
            keys = [line_key(t) for t in lines]
            fingerprint = simhash(keys, [len(t) ** 2 for t in lines])
            source = source_key(doc)
            for key in {k for k, t in zip(keys, lines) if len(t) <= opts["max_chars"]}:
                seen = self._table.setdefault((source, key), [])
                if len(seen) < opts["min_docs"] and all(
                    bin(fingerprint ^ other).count("1") > opts["copy_bits"] for other in seen
                ):
                    seen.append(fingerprint)

    def process(self, doc: Document) -> None:
        lines = split_lines(doc)
        source = source_key(doc)
        min_docs = self.options["min_docs"]
        changed = False
        for i, line in enumerate(lines):
            text = line.strip()
            if not text or len(text) > self.options["max_chars"]:
                continue
            seen = self._table.get((source, line_key(text)))
            if seen and len(seen) >= min_docs:
                remove_line(
                    doc,
                    lines,
                    i,
                    "template_line",
                    f"step {self.name}: in {len(seen)}+ different documents of {source or 'this input'}",
                )
                self.stats.counters["lines_removed.template_line"] += 1
                changed = True
        if changed:
            doc.text = "\n".join(lines)
