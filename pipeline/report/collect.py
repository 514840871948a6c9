"""Read a finished run directory into the figures the report shows.

Only the run's own files are used (the manifest dict, `part-*` and `rejects-*`
shards), so a report can be rebuilt at any time and the run loop knows nothing
about it. Shards are streamed once; whatever grows with the corpus is bounded:
length samples and example documents are reservoir samples drawn with a fixed
seed, so the same run always gives the same report. Of a kept line only the few fields
the figures count are decoded (`KeptFields`): its text, most of its bytes, is parsed only for
the sampled examples.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import orjson

from pipeline.fs import open_decompressed
from pipeline.s7_write.records import counts_dict

LENGTH_SAMPLE = 50_000  # (raw, clean) length pairs kept for plots and medians
KEPT_EXAMPLES = 8
DROPPED_EXAMPLES_PER_REASON = 3
MAX_REASONS_WITH_EXAMPLES = 20
EXCERPT_CHARS = 600
SEED = 20240607


class Reservoir:
    """Uniform sample of at most `size` items from a stream (Algorithm R), deterministic for a seed."""

    def __init__(self, size: int, rng: random.Random):
        self.size, self.rng, self.seen = size, rng, 0
        self.items: list = []

    def offer(self, make_item) -> None:
        """`make_item` is called only when the item is taken, so skipped items cost nothing."""
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(make_item())
        else:
            j = self.rng.randrange(self.seen)
            if j < self.size:
                self.items[j] = make_item()


@dataclass
class LengthStats:
    """Exact count and sum, plus a bounded sample for distributions and medians."""

    count: int = 0
    total: int = 0
    sample: list = field(default_factory=list)  # sorted

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0


@dataclass
class RunFigures:
    manifest: dict
    run_dir: Path
    removed_by_rule: Counter = field(
        default_factory=Counter
    )  # lines removed, all documents (manifest counters)
    removed_in_records: Counter = field(
        default_factory=Counter
    )  # the same, summed over the records' `removed`
    html_blocks_by_rule: Counter = field(default_factory=Counter)  # HTML blocks removed before extraction
    docs_with_html_rule: Counter = field(
        default_factory=Counter
    )  # records whose `html_removed` names the rule
    docs_with_rule: Counter = field(default_factory=Counter)  # documents that lost >= 1 line to the rule
    languages: Counter = field(default_factory=Counter)  # kept documents
    sources_kept: Counter = field(default_factory=Counter)
    sources_dropped: Counter = field(default_factory=Counter)
    cluster_sizes: Counter = field(default_factory=Counter)  # duplicate cluster size -> number of clusters
    largest_clusters: list = field(default_factory=list)  # (size, kept id, reason)
    raw_kept: LengthStats = field(default_factory=LengthStats)  # chars before cleaning, kept documents
    clean_kept: LengthStats = field(default_factory=LengthStats)  # chars after cleaning, kept documents
    raw_dropped: LengthStats = field(default_factory=LengthStats)  # chars before cleaning, dropped documents
    kept_examples: list = field(default_factory=list)
    dropped_examples: dict = field(default_factory=dict)  # "stage:reason" -> [example]
    error_reasons: set = field(default_factory=set)  # "stage:reason" of failed (not merely dropped) documents
    records_kept: int = 0
    records_rejected: int = 0


def shard_files(run_dir: Path, manifest: dict, key: str, prefix: str) -> list[Path]:
    """Shards listed in the manifest; a manifest without the list falls back to the files on disk."""
    listed = manifest.get(key)
    if listed is not None:
        return [run_dir / entry["file"] for entry in listed]
    return sorted(p for p in run_dir.glob(f"{prefix}-*.jsonl*") if not p.name.startswith("."))


def iter_lines(paths: list[Path]) -> Iterator[bytes]:
    for path in paths:
        with open_decompressed(path) as fh:
            yield from fh


def parse_lines(lines: Iterable[bytes]) -> Iterator[dict]:
    """The records of JSON lines (a shard's, or a pipe's carrying them: report/feed.py)."""
    for line in lines:
        if line.strip():
            yield orjson.loads(line)


class KeptMetadata(msgspec.Struct):
    """The metadata fields of a kept record that the figures read (any type, as orjson gives them)."""

    language: Any = None
    n_chars: Any = None
    n_chars_raw: Any = None
    removed: Any = None
    html_removed: Any = None


class KeptFields(msgspec.Struct):
    """The fields of a kept record that the figures read. Decoding a shard line into these skips
    the others without building them: the text, most of a line's bytes and of the cost of parsing
    it, is only scanned (the few examples parse their line whole)."""

    source: Any = None
    metadata: KeptMetadata | None = None


NO_METADATA = KeptMetadata()
_KEPT_DECODER = msgspec.json.Decoder(KeptFields)


def kept_fields(line: bytes) -> KeptFields | None:
    """The figures' fields of a kept shard line (None: a blank line)."""
    try:
        return _KEPT_DECODER.decode(line)
    except msgspec.DecodeError:  # a blank line, or a field of another type: read from the whole record
        if not line.strip():
            return None
        record = orjson.loads(line)  # not JSON: raises, as parsing the line whole always did
        meta = record.get("metadata") or {}
        names = KeptMetadata.__struct_fields__
        return KeptFields(record.get("source"), KeptMetadata(*(meta.get(name) for name in names)))


def _excerpt(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS].rstrip() + " …"


def _kept_example(record: dict) -> dict:
    meta = record.get("metadata") or {}
    return {
        "id": record.get("id"),
        "source": record.get("source"),
        "title": meta.get("title"),
        "created": record.get("created"),
        "language": meta.get("language"),
        "n_chars_raw": meta.get("n_chars_raw"),
        "n_chars": meta.get("n_chars"),
        "removed": counts_dict(meta.get("removed")),
        "excerpt": _excerpt(record.get("text")),
    }


def _dropped_example(record: dict) -> dict:
    meta = record.get("metadata") or {}
    return {
        "id": record.get("id"),
        "source": record.get("source"),
        "stage": record.get("stage"),
        "reason": record.get("reason"),
        "detail": record.get("detail"),
        "dup_of": record.get("dup_of"),
        "error": bool(record.get("error")),
        "title": meta.get("title"),
        "removed": counts_dict(meta.get("removed")),
        "excerpt": _excerpt(record.get("text")),
    }


class _Samples:
    """The bounded samples a report shows, all drawn from one seeded generator (in record order)."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.lengths = Reservoir(LENGTH_SAMPLE, rng)  # (raw, clean) characters of kept documents
        self.raw_dropped = Reservoir(LENGTH_SAMPLE, rng)
        self.kept = Reservoir(KEPT_EXAMPLES, rng)
        self.dropped: dict[str, Reservoir] = {}  # "stage:reason" -> examples

    def offer_dropped(self, key: str, record: dict) -> None:
        if key not in self.dropped and len(self.dropped) < MAX_REASONS_WITH_EXAMPLES:
            self.dropped[key] = Reservoir(DROPPED_EXAMPLES_PER_REASON, self.rng)
        if key in self.dropped:
            self.dropped[key].offer(lambda: _dropped_example(record))


def collect(run_dir: str | Path, manifest: dict, seed: int = SEED) -> RunFigures:
    run_dir = Path(run_dir)
    kept, rejects = (
        shard_files(run_dir, manifest, "shards", "part"),
        shard_files(run_dir, manifest, "rejects", "rejects"),
    )
    return with_manifest(collect_records(run_dir, kept, rejects, seed), manifest)


def with_manifest(figures: RunFigures, manifest: dict) -> RunFigures:
    """The figures of the records, completed with the manifest's own (its counters)."""
    figures.manifest = manifest
    # the manifest's counters are the run's own figures; records are the fallback for steps without counters
    figures.removed_by_rule = removed_from_manifest(manifest) or Counter(figures.removed_in_records)
    figures.html_blocks_by_rule = html_blocks_from_manifest(manifest)
    return figures


def collect_records(run_dir: Path, kept: list[Path], rejected: list[Path], seed: int = SEED) -> RunFigures:
    """The figures of the kept and reject shards' records (not those of the manifest: `with_manifest`)."""
    return collect_lines(run_dir, _utf8_checked(iter_lines(kept)), iter_lines(rejected), seed)


def _utf8_checked(lines: Iterable[bytes]) -> Iterator[bytes]:
    """Shard lines from disk, each checked to be UTF-8 as a whole parse does (`kept_fields` skips the
    text unchecked): a damaged one fails the report as it always did. The run's own feed needs no
    check (its lines come from the writer's orjson.dumps)."""
    for line in lines:
        if not line.isascii():
            try:
                line.decode()
            except UnicodeDecodeError:
                orjson.loads(line)  # raises orjson's error, as parsing the line whole did
        yield line


def collect_lines(
    run_dir: Path, kept: Iterable[bytes], rejected: Iterable[bytes], seed: int = SEED
) -> RunFigures:
    """The figures of the kept shard lines, then of the rejected ones (the samples draw from one
    generator in this order), each in shard order."""
    figures = RunFigures(manifest={}, run_dir=run_dir)
    samples = _Samples(random.Random(seed))
    for line in kept:
        fields = kept_fields(line)
        if fields is not None:
            _add_kept(figures, samples, fields, line)
    duplicates: Counter = Counter()  # kept id -> documents dropped as its duplicates
    duplicate_reason: dict[str, str] = {}
    for record in parse_lines(rejected):  # few, and their text is last: parsed whole
        _add_rejected(figures, samples, record)
        if record.get("dup_of") is not None:
            duplicates[record["dup_of"]] += 1
            duplicate_reason.setdefault(record["dup_of"], record.get("reason") or "duplicate")
    _take_samples(figures, samples)
    # a cluster is the kept document plus every document dropped as its duplicate
    figures.cluster_sizes = Counter(n + 1 for n in duplicates.values())
    figures.largest_clusters = sorted(
        ((n + 1, kept_id, duplicate_reason[kept_id]) for kept_id, n in duplicates.items()),
        key=lambda c: (-c[0], c[1]),
    )[:10]
    return figures


def _add_kept(figures: RunFigures, samples: _Samples, fields: KeptFields, line: bytes) -> None:
    """A kept record: its `fields`, and its `line` parsed whole where the text is needed."""
    figures.records_kept += 1
    meta = fields.metadata or NO_METADATA
    _count_removed(figures, meta.removed, meta.html_removed)
    figures.languages[meta.language or "unknown"] += 1
    figures.sources_kept[fields.source or "unknown"] += 1
    clean = meta.n_chars
    if clean is None:
        clean = len(orjson.loads(line).get("text") or "")
    raw = meta.n_chars_raw
    _add_length(figures.clean_kept, clean)
    if raw is not None:
        _add_length(figures.raw_kept, raw)
    samples.lengths.offer(lambda: (raw, clean))
    samples.kept.offer(lambda: _kept_example(orjson.loads(line)))


def _add_rejected(figures: RunFigures, samples: _Samples, record: dict) -> None:
    figures.records_rejected += 1
    meta = record.get("metadata") or {}
    _count_removed(figures, meta.get("removed"), meta.get("html_removed"))
    figures.sources_dropped[record.get("source") or "unknown"] += 1
    raw = meta.get("n_chars_raw")
    if raw is not None:
        _add_length(figures.raw_dropped, raw)
        samples.raw_dropped.offer(lambda: raw)
    key = f"{record.get('stage')}:{record.get('reason')}"
    if record.get("error"):
        figures.error_reasons.add(key)
    samples.offer_dropped(key, record)


def _take_samples(figures: RunFigures, samples: _Samples) -> None:
    # sorted: the charts and medians only count them, in order; sorted here, in the run's report child,
    # the driver's sorts at the run's serial end find them in order (linear)
    figures.raw_kept.sample = sorted(raw for raw, _ in samples.lengths.items if raw is not None)
    figures.clean_kept.sample = sorted(clean for _, clean in samples.lengths.items)
    figures.raw_dropped.sample = sorted(samples.raw_dropped.items)
    figures.kept_examples = sorted(samples.kept.items, key=lambda e: str(e["id"]))
    figures.dropped_examples = {
        k: sorted(r.items, key=lambda e: str(e["id"])) for k, r in sorted(samples.dropped.items())
    }


def html_blocks_from_manifest(manifest: dict) -> Counter:
    """HTML blocks (widgets) removed by rule before extraction: extract_html's `dropped:<rule>` counters."""
    counters = ((manifest.get("stages") or {}).get("extract_html") or {}).get("counters") or {}
    return Counter(
        {key.removeprefix("dropped:"): n for key, n in counters.items() if key.startswith("dropped:")}
    )


def removed_from_manifest(manifest: dict) -> Counter:
    """Lines removed by rule, from the per-stage `lines_removed.<rule>` counters."""
    out: Counter = Counter()
    for stage in (manifest.get("stages") or {}).values():
        for key, n in (stage.get("counters") or {}).items():
            if key.startswith("lines_removed."):
                out[key.removeprefix("lines_removed.")] += n
    return out


def _count_removed(figures: RunFigures, removed, html_removed) -> None:
    """A record's `removed` and `html_removed` (counts_dict's forms; most records have no HTML ones)."""
    if removed:
        for rule, n in counts_dict(removed).items():
            figures.removed_in_records[rule] += n
            figures.docs_with_rule[rule] += 1
    if html_removed:
        for rule in counts_dict(html_removed):
            figures.docs_with_html_rule[rule] += 1


def _add_length(stats: LengthStats, n: int) -> None:
    stats.count += 1
    stats.total += n
