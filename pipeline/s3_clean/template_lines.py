"""template_lines: lines a site repeats on many different pages are its template, not an article.

A menu item, a footer line, a widget label or "Tin cùng chuyên mục" stand on every
page of a site; an article's sentences stand on one (or on its copies). The step
counts, per source (the record's `source`: the site from the URL, else the
collection or input folder), in how many *different* documents each line of the
cleaned text occurs, and removes the lines that reach `min_docs`, with the reason
`template_line`.

"Different" matters: three copies of one article must not turn its paragraphs into
template. Each document gets a SimHash of its lines (weighted by length², so the
long article paragraphs dominate the short template lines): copies of one article
have nearly equal SimHashes, two articles of one site do not. A line counts one
more document only when that document is not a near-copy (SimHash within
`copy_bits` bits) of one already counted for it.

It is a global step, decided by the run's existing phases (no second pass over the
steps): `key` (map, after the per-document steps) hashes the short lines of the
final text; `reduce` (driver, in input order, so the same for any number of workers,
partitions or engine) adds them to the counts of earlier runs (OUTPUT/state/
template_lines/, staged and committed like the dedup indexes) and names the template
lines per source; the filter phase removes them from the kept records
(`strip_record`). Only lines up to `max_chars` long are counted, at most
`max_lines_per_source` per source are remembered (template lines first), which
bounds the state.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np
import orjson
import xxhash

from pipeline import workfile
from pipeline.document import Document
from pipeline.kernels import kernels_for, preload
from pipeline.options import Schema, option
from pipeline.s3_clean.rules import one_space
from pipeline.s7_write.atomic import write_atomic
from pipeline.s7_write.records import counts_dict, counts_list, source_of
from pipeline.s7_write.safe_json import json_line
from pipeline.step import DocRef, Drop, GlobalStep

STATE_DIR = "template_lines"  # OUTPUT/state/template_lines/
TABLE_FILE = "counts.bin"  # the counts, in the state and in a run's delta
EDITS_FILE = "template-lines.bin"  # in a run's _work/: the template lines per source, for the filter
REASON = "template_line"

GUARD = 4  # SimHashes kept per line for the copy guard


@dataclass
class Table:
    """Per source: documents counted, and per line key [different documents, documents it may have
    missed (lossy counting), the SimHashes of the first GUARD of them] (a list or tuple: `count`
    replaces an entry, never changes it in place)."""

    docs: dict[str, int] = field(default_factory=dict)
    lines: dict[str, dict[int, Sequence[int]]] = field(default_factory=dict)


def line_key(text: str) -> int:
    """A line's key: case and spacing do not matter (a site prints its template lines the same way).
    A line with single spaces only skips the split and join (`one_space`)."""
    return xxhash.xxh3_64_intdigest(one_space(text.casefold().strip()).encode("utf-8", "surrogatepass"))


def simhash(keys: list[int], lengths: list[int], kernels: ModuleType | None = None) -> int:
    """The 64-bit SimHash of keys weighted by their lengths squared: bit b is set when the keys with
    bit b set outweigh those without (the weights are integers, summed exactly). `kernels`: the
    compiled module (`pipeline.kernels_for`), one loop instead of ~10 numpy calls (the same bits)."""
    if not keys:
        return 0
    if kernels is not None:
        return int(kernels.simhash(np.array(keys, dtype=np.uint64), np.array(lengths, dtype=np.int64)))
    bits = np.unpackbits(np.array(keys, dtype="<u8").view(np.uint8), bitorder="little").reshape(-1, 64)
    weights = np.array(lengths, dtype=np.int64)
    weights *= weights
    return int(np.packbits(2 * (weights @ bits) > weights.sum(), bitorder="little").view("<u8")[0])


def text_key(text: str, max_chars: int, kernels: ModuleType | None = None) -> np.ndarray:
    """[SimHash of the document's lines, the sorted keys of its distinct short lines] (uint64).
    The SimHash hashes the lines as they are (copies of one text are equal); only the short lines
    get the normalized key the filter matches (`line_key`)."""
    lines = list(filter(None, map(str.strip, text.split("\n"))))
    fingerprint = simhash(list(map(xxhash.xxh3_64_intdigest, lines)), list(map(len, lines)), kernels)
    short = sorted({line_key(t) for t in lines if len(t) <= max_chars})
    return np.array([fingerprint, *short], dtype=np.uint64)


def count(table: Table, source: str, key: np.ndarray, copy_bits: int, width: int = 0) -> None:
    """Add one document's lines to the table; a near-copy of a document counted already adds nothing.

    With `width` > 0 this is lossy counting (Manku & Motwani): every `width` documents of a source,
    lines whose count (plus what they may have missed before they were first seen) is under the
    number of such buckets are forgotten, so memory stays in O(width · log(docs / width)) lines per
    source, while every line in more than 1/width of the source's documents is kept, its count short
    by at most docs/width (here a fifth of min_share: the step sets width = 5 / min_share).
    """
    fingerprint = int(key[0])
    docs = table.docs[source] = table.docs.get(source, 0) + 1
    bucket = -(-docs // width) if width else 1
    lines = table.lines.setdefault(source, {})
    keys = key[1:].tolist()
    # most lines of a document are its own: those seen before are picked out, then every line gets
    # the entry of a new one at once (one immutable tuple shared by them: entries are replaced, never
    # changed in place), and those seen before get theirs back, counted
    before = [(line, lines[line]) for line in keys if line in lines]
    lines.update(dict.fromkeys(keys, (1, bucket - 1, fingerprint)))
    for line, seen in before:
        if all((fingerprint ^ other).bit_count() > copy_bits for other in seen[2:]):
            guard = (fingerprint,) if len(seen) < 2 + GUARD else ()
            seen = (seen[0] + 1, *seen[1:], *guard)
        lines[line] = seen
    if width and docs % width == 0:  # (most lines go: the table is rebuilt rather than deleted from)
        table.lines[source] = {line: seen for line, seen in lines.items() if seen[0] + seen[1] > bucket}


def template_of(table: Table, min_docs: int, min_share: float) -> dict[str, set[int]]:
    """Per source, the line keys seen in at least min_docs different documents, and in at least
    min_share of the source's documents."""
    found = {}
    for source, lines in table.lines.items():
        need = max(min_docs, min_share * table.docs.get(source, 0))
        keys = {k for k, seen in lines.items() if seen[0] >= need}
        if keys:
            found[source] = keys
    return found


def bounded(table: Table, max_lines: int) -> Table:
    """At most max_lines lines per source: those seen in most documents, then by key (deterministic)."""
    out = Table(dict(table.docs), {})
    for source in sorted(table.lines):
        lines = table.lines[source]
        keep = sorted(lines, key=lambda k: (-lines[k][0], k))[:max_lines]
        out.lines[source] = {k: lines[k] for k in sorted(keep)}
    return out


def strip_text(text: str, template: set[int], max_chars: int) -> tuple[str, int]:
    """The text without its template lines (blank runs left behind closed up), and how many went."""
    kept, removed = [], 0
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped and len(stripped) <= max_chars and line_key(stripped) in template:
            removed += 1
            continue
        kept.append(line)
    if not removed:
        return text, 0
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip("\n"), removed


def strip_record(line: bytes, edits: dict) -> tuple[bytes, dict | None]:
    """A kept record line without its source's template lines: (new line, None), or (line, record)
    when nothing of the text is left (the caller rejects it with the reason `template_line`)."""
    record = orjson.loads(line)
    template = edits["template"].get(record.get("source") or "")
    if not template:
        return line, None
    text, removed = strip_text(record["text"], template, edits["max_chars"])
    if not removed:
        return line, None
    meta = record["metadata"]
    counts = counts_dict(meta.get("removed"))
    counts[REASON] = counts.get(REASON, 0) + removed
    meta["removed"] = counts_list(counts)
    if not text.strip():
        return line, record
    record["text"] = text
    meta["n_chars"], meta["n_words"] = len(text), len(text.split())
    # content_hash stays the one exact_dedup compared and indexed (a rebuilt index reads it back)
    return json_line(record), None


_EDITS_CACHE: dict[str, dict] = {}


def load_edits(work_dir: Path) -> dict | None:
    """The template lines the reduce wrote for this run's filter, or None when there are none."""
    path = Path(work_dir) / EDITS_FILE
    if not path.exists():
        return None
    data = path.read_bytes()
    cache_key = f"{path}:{xxhash.xxh3_64_hexdigest(data)}"
    if cache_key not in _EDITS_CACHE:
        _EDITS_CACHE.clear()
        header = workfile.loads(data)
        template = {source: set(keys.tolist()) for source, keys in header["template"].items()}
        _EDITS_CACHE[cache_key] = {"template": template, "max_chars": header["max_chars"]}
    return _EDITS_CACHE[cache_key]


class TemplateLines(GlobalStep):
    name = "template_lines"
    pipeline_stage = "clean"
    hold_keys = True  # a source and the hashes of a document's short lines

    class Options(Schema):
        # a line in at least this many different documents of one source is template (1 would be every line)
        min_docs: int = option(2, low=2)
        min_share: float = 0.05  # and in at least this share of the source's documents (of all runs)
        max_chars: int = 200  # longer lines are never counted (article paragraphs)
        copy_bits: int = 8  # SimHashes this close (of 64 bits) are copies of one document
        # lines remembered per source across runs (those in most documents first)
        max_lines_per_source: int = option(20000, low=1)

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self.collection = (context or {}).get("collection", "")
        self._table = Table()
        self.template: dict[str, set[int]] = {}
        self._keyed = 0  # documents keyed in this process (when the compiled kernels pay)

    def preload(self, docs_per_process: int) -> None:
        preload(docs_per_process)

    def key(self, doc: Document) -> tuple[str, np.ndarray]:
        self._keyed += 1  # small runs stay on numpy; the compiled SimHash once it pays (same bits)
        key = text_key(doc.text, self.options["max_chars"], kernels_for(self._keyed))
        return source_of(doc, self.collection), key

    def reduce(self, items: Iterable[tuple[DocRef, tuple]], state_dir=None) -> Iterator[Drop]:
        opts = self.options
        table = load_table(Path(state_dir) / STATE_DIR / TABLE_FILE) if state_dir else Table()
        width = math.ceil(5 / opts["min_share"]) if opts["min_share"] else 0  # exact without a share
        for _ref, (source, key) in items:
            count(table, source, key, opts["copy_bits"], width)
        self._table = table
        self.template = template_of(table, opts["min_docs"], opts["min_share"])
        self.stats.counters["template_lines"] = sum(len(keys) for keys in self.template.values())
        return iter(())

    def write_edits(self, work_dir: Path) -> None:
        """What the filter phase needs: the template lines per source (none: no file, nothing edited)."""
        path = Path(work_dir) / EDITS_FILE
        if not self.template:
            path.unlink(missing_ok=True)
            return
        template = {s: np.array(sorted(keys), dtype=np.uint64) for s, keys in sorted(self.template.items())}
        write_atomic(path, workfile.dumps({"template": template, "max_chars": self.options["max_chars"]}))

    def stage(self, delta_dir, dropped=frozenset()) -> None:
        table = bounded(self._table, self.options["max_lines_per_source"])
        write_atomic(Path(delta_dir) / TABLE_FILE, dump_table(table))

    def commit(self, state_dir, delta_dir) -> None:
        """The run's table replaces the state's (it holds the earlier runs' counts): idempotent."""
        staged = Path(delta_dir) / TABLE_FILE
        if staged.exists():
            (Path(state_dir) / STATE_DIR).mkdir(parents=True, exist_ok=True)
            write_atomic(Path(state_dir) / STATE_DIR / TABLE_FILE, staged.read_bytes())


def dump_table(table: Table) -> bytes:
    """Per source: documents, line keys, their counts, missed counts and SimHash counts, the SimHashes."""
    out = {}
    for source, lines in table.lines.items():
        keys = sorted(lines)
        out[source] = {
            "docs": table.docs.get(source, 0),
            "keys": np.array(keys, dtype=np.uint64),
            "n": np.array([lines[k][0] for k in keys], dtype=np.uint64),
            "missed": np.array([lines[k][1] for k in keys], dtype=np.uint64),
            "n_seen": np.array([len(lines[k]) - 2 for k in keys], dtype=np.uint8),
            "seen": np.array([f for k in keys for f in lines[k][2:]], dtype=np.uint64),
        }
    return workfile.dumps(out)


def load_table(path: Path) -> Table:
    return load_table_bytes(path.read_bytes()) if path.exists() else Table()


def load_table_bytes(data: bytes) -> Table:
    table = Table()
    for source, arrays in workfile.loads(data).items():
        table.docs[source] = arrays["docs"]
        seen, at = arrays["seen"].tolist(), 0
        lines = table.lines[source] = {}
        rows = zip(
            arrays["keys"].tolist(),
            arrays["n"].tolist(),
            arrays["missed"].tolist(),
            arrays["n_seen"].tolist(),
        )
        for key, n, missed, n_seen in rows:
            lines[key] = [n, missed, *seen[at : at + n_seen]]
            at += n_seen
    return table
