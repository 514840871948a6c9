"""Document -> output records (schema in CONVENTIONS.md: dolma/datatrove compatible).

The schema is stable, so that Arrow (Hugging Face `datasets`, pyarrow) infers one type
per column: counts by name (`removed`, `html_removed`, `pii`) are lists of
`{"rule": str, "n": int}`, `quality` is a fixed set of numbers, and `created` has one
form: a date-time with its UTC offset, or a plain date.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pipeline.document import Document
from pipeline.step import Drop

META_FIELDS = ("title", "author", "section", "url")
COUNT_FIELDS = ("html_removed", "pii")  # stage metadata counted by name, written as rule/n lists
# What stages may learn about a document, written in every kept record (this value when a stage
# found nothing): Arrow types a record field missing from some rows as JSON, so none may be missing.
OPTIONAL_FIELDS: dict[str, object] = {
    "sitename": None,  # extract_html (trafilatura)
    "categories": [],  # extract_html
    "source_attribution": None,  # dump_metadata: "Nguồn: …"
    "crawl_date": None,  # WARC-Date
    "n_chars_raw": None,  # length before cleaning (decode / extract_html)
    "n_chars_html": None,  # length of the HTML (extract_html)
    "mojibake_repaired": False,  # decode
    "html_removed": [],  # extract_html: HTML blocks removed by rule
    "pii": [],  # pii_mask: e-mails, phones, IPs masked, by kind
    "quality": None,  # quality_signals: the fixed set of signals (SIGNAL_NAMES)
    "input_metadata": None,  # dolma-style input records: their `metadata` object, as a JSON string
    "input_added": None,  # dolma-style input records: their `added`
}
_CREATED = re.compile(r"^(\d{4}-\d\d-\d\d)(?:T(\d\d:\d\d:\d\d)([+-]\d\d:\d\d)?)?$")
_RECORD_SUFFIXES = (".gz", ".zst", ".jsonl", ".ndjson", ".json", ".warc")


def counts_list(counts: dict | list | None) -> list[dict]:
    """{"weather_widget": 10} -> [{"rule": "weather_widget", "n": 10}] (a list already in that form stays)."""
    if isinstance(counts, list):
        return counts
    return [{"rule": str(rule), "n": int(n)} for rule, n in (counts or {}).items()]


def counts_dict(counts: dict | list | None) -> dict[str, int]:
    """The other way, for readers; takes both forms (corpora written before the list form hold dicts)."""
    if isinstance(counts, dict):
        return dict(counts)
    return {item["rule"]: item["n"] for item in counts or [] if isinstance(item, dict) and "rule" in item}


def created_of(value: str | None, timezone: str = "") -> str | None:
    """`created` in its one form: '2025-01-30T12:24:00+07:00' when the offset is known (stated by the
    page, or `read.timezone` for times that state none), else the plain date '2025-01-30'."""
    match = _CREATED.match(value or "")
    if not match:
        return None
    date, time, offset = match.groups()
    offset = offset or timezone
    return f"{date}T{time}{offset}" if time and offset else date


def _collection_of(doc: Document) -> str:
    """`source` when neither the page nor the config names one: the file's name for the records of a
    JSONL or WARC file ("crawl-2025-01" for crawl-2025-01.jsonl.gz), else the input folder's name."""
    path = doc.provenance.get("input_path") or ""
    if "#" in path:  # one of many records in a file
        name = _records_file_name(path.rpartition("#")[0])
        if name:
            return name
    root = doc.provenance.get("input_root")
    return (Path(root).resolve().name if root else "") or "newsclean"


@functools.lru_cache(maxsize=256)
def _records_file_name(path: str) -> str:
    """The name of a records file without its suffixes: "crawl-2025-01" for "dir/crawl-2025-01.jsonl.gz"
    (cached: asked twice per document, of the same few files)."""
    name = Path(path).name
    while name.lower().endswith(_RECORD_SUFFIXES):
        name = name[: name.rindex(".")]
    return name


def source_of(doc: Document, collection: str) -> str:
    url = doc.metadata.get("url")
    if url:
        host = urlsplit(url).hostname
        if host:
            return host.removeprefix("www.")
    return (
        doc.metadata.get("sitename") or doc.provenance.get("collection") or collection or _collection_of(doc)
    )


def _n_words(doc: Document) -> int:
    counted = doc.word_count  # (text, words) from length_filter
    if counted is not None and counted[0] is doc.text:
        return counted[1]
    return len(doc.text.split())


def kept_record(doc: Document, added: str, collection: str, timezone: str = "") -> dict:
    meta = doc.metadata
    metadata = {key: meta.get(key) for key in META_FIELDS}
    metadata.update(
        {
            "language": meta.get("language"),
            "language_score": meta.get("language_score"),
            "input_path": doc.provenance.get("input_path"),
            "n_chars": len(doc.text),
            "n_words": _n_words(doc),
            "removed": counts_list(doc.removed_counts()),
            "content_hash": meta.get("content_hash"),
        }
    )
    for key, empty in OPTIONAL_FIELDS.items():
        value = meta.get(key)
        metadata[key] = empty if value is None else counts_list(value) if key in COUNT_FIELDS else value
    # anything else a stage learned (a custom step's field): kept, after the fixed ones
    for key, value in meta.items():
        if key not in metadata and key not in ("created",):
            metadata[key] = value
    return {
        "id": doc.id,
        "text": doc.text,
        "source": source_of(doc, collection),
        "added": added,
        "created": created_of(meta.get("created"), timezone),
        "metadata": metadata,
    }


# --- rejects: one record layout for every dropped document -------------------------------


@dataclass(frozen=True)
class Rejection:
    """Why a document was dropped (or failed): the fields every reject record starts with."""

    stage: str | None  # (never None for a dropped document)
    reason: str | None
    detail: str | None
    error: bool  # the input is at fault (an error record), not a filter decision
    dup_of: str | None = None  # the kept document it is a copy of

    @classmethod
    def of_document(cls, doc: Document) -> Rejection:
        return cls(doc.drop_stage, doc.drop_reason, doc.drop_detail, doc.is_error, doc.dup_of)

    @classmethod
    def of_drop(cls, stage: str, drop: Drop, error: bool) -> Rejection:
        return cls(stage, drop.reason, drop.detail, error, drop.dup_of)


def reject(doc_id: str, why: Rejection, source: str | None, metadata: dict, text: str) -> dict:
    """The reject record (CONVENTIONS.md): the text is kept here, so nothing is lost silently."""
    record: dict = {
        "id": doc_id,
        "reason": why.reason,
        "stage": why.stage,
        "detail": why.detail,
        "error": why.error,
    }
    if why.dup_of is not None:
        record["dup_of"] = why.dup_of
    record.update(source=source, metadata=metadata, text=text)
    return record


def _document_metadata(doc: Document) -> dict:
    return {
        "input_path": doc.provenance.get("input_path"),
        **{k: doc.metadata.get(k) for k in META_FIELDS if doc.metadata.get(k)},
        **({"n_chars_raw": doc.metadata["n_chars_raw"]} if "n_chars_raw" in doc.metadata else {}),
        "removed": counts_list(doc.removed_counts()),
        **(
            {"html_removed": counts_list(doc.metadata["html_removed"])}
            if doc.metadata.get("html_removed")
            else {}
        ),
    }


def reject_record(doc: Document, collection: str) -> dict:
    """A document a per-document step dropped (map phase)."""
    return reject(
        doc.id, Rejection.of_document(doc), source_of(doc, collection), _document_metadata(doc), doc.text
    )


def dropped_candidate(record: dict, why: Rejection) -> dict:
    """A candidate kept record that a global step (dedup, the id check) dropped in the reduce phase."""
    meta = record.get("metadata", {})
    fields = ("input_path", "title", "author", "section", "url", "removed", "content_hash", "n_chars_raw")
    metadata = {k: meta.get(k) for k in fields if meta.get(k) is not None}
    return reject(record["id"], why, record.get("source"), metadata, record.get("text", ""))


def refiltered_reject(record: dict, doc: Document) -> dict:
    """A kept record of the corpus that `newsclean refilter` drops: its scores say why."""
    metadata = _document_metadata(doc)
    metadata["removed"] = counts_list((record.get("metadata") or {}).get("removed"))
    metadata["quality"] = doc.metadata.get("quality")
    source = record.get("source") or source_of(doc, "")
    return reject(doc.id, Rejection.of_document(doc), source, metadata, doc.text)
