"""Document -> output records (schema in CONVENTIONS.md: dolma/datatrove compatible)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pipeline.document import Document

META_FIELDS = ("title", "author", "section", "url")


def source_of(doc: Document, collection: str) -> str:
    url = doc.metadata.get("url")
    if url:
        host = urlsplit(url).hostname
        if host:
            return host.removeprefix("www.")
    return doc.metadata.get("sitename") or doc.provenance.get("collection") or collection


def _n_words(doc: Document) -> int:
    counted = getattr(doc, "word_count", None)  # (text, words) from length_filter
    if counted is not None and counted[0] is doc.text:
        return counted[1]
    return len(doc.text.split())


def kept_record(doc: Document, added: str, collection: str) -> dict:
    meta = doc.metadata
    metadata = {key: meta.get(key) for key in META_FIELDS}
    metadata.update({
        "language": meta.get("language"),
        "language_score": meta.get("language_score"),
        "input_path": doc.provenance.get("input_path"),
        "n_chars": len(doc.text),
        "n_words": _n_words(doc),
        "removed": doc.removed_counts(),
        "content_hash": meta.get("content_hash"),
    })
    # everything else a stage learned (sitename, categories, source_attribution, quality, ...)
    for key, value in meta.items():
        if key not in metadata and key not in ("created",):
            metadata[key] = value
    return {
        "id": doc.id,
        "text": doc.text,
        "source": source_of(doc, collection),
        "added": added,
        "created": meta.get("created"),
        "metadata": metadata,
    }


def reject_record(doc: Document, collection: str) -> dict:
    record = {
        "id": doc.id,
        "reason": doc.drop_reason,
        "stage": doc.drop_stage,
        "detail": doc.drop_detail,
        "error": doc.is_error,
    }
    if doc.dup_of is not None:
        record["dup_of"] = doc.dup_of
    record["source"] = source_of(doc, collection)
    record["metadata"] = {
        "input_path": doc.provenance.get("input_path"),
        **{k: doc.metadata.get(k) for k in META_FIELDS if doc.metadata.get(k)},
        **({"n_chars_raw": doc.metadata["n_chars_raw"]} if "n_chars_raw" in doc.metadata else {}),
        "removed": doc.removed_counts(),
    }
    record["text"] = doc.text  # dropped documents are kept here, not lost
    return record
