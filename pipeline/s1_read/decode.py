"""Bytes -> text: BOM, declared charset (HTTP header / HTML meta), UTF-8, then a fallback list.

A fallback is accepted only when the result looks like text (few control
characters); binary or undecodable input becomes an error record, never a crash.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

from pipeline.document import Document
from pipeline.options import Schema, option
from pipeline.s1_read.charsets import (
    fix_surrogates,
    has_no_controls,
    has_surrogates,
    may_hold_mojibake,
    reads_as,
    repair_mojibake,
    strip_controls,
    utf16_without_bom,
)
from pipeline.step import Step

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_:.-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]+encoding\s*=\s*["']([a-zA-Z0-9_.-]+)""", re.I)
# C0 controls other than tab/newline/carriage return/form feed: a sign of binary data
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
STRAY_CONTROLS = 8


# browsers read these labels as windows-1252 (WHATWG Encoding): pages labelled latin-1
# routinely use its curly quotes and dashes in 0x80-0x9f
_WHATWG = {"latin-1": "cp1252", "iso8859-1": "cp1252", "ascii": "cp1252"}


class DecodeError(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def declared_charset(data: bytes, http_charset: str | None = None) -> str | None:
    """Charset named by the HTTP header, else by an XML declaration or HTML <meta> in the head."""
    if http_charset and _known(http_charset):
        return _WHATWG.get(codecs.lookup(http_charset).name, http_charset)
    head = data[:16384]  # a head full of scripts can push the <meta> past the first few KB
    for pattern in (_XML_ENCODING, _META_CHARSET):
        m = pattern.search(head)
        if m:
            name = m.group(1).decode("ascii", "ignore")
            if _known(name):
                return _WHATWG.get(codecs.lookup(name).name, name)
    return None


def _known(name: str) -> bool:
    try:
        codecs.lookup(name)
        return True
    except LookupError:
        return False


def _looks_like_text(text: str, max_control_share: float) -> bool:
    if not text:
        return True
    controls = len(_CONTROL.findall(text[:100_000]))
    # a few stray NULs in a short page are noise (removed later), not a sign of binary data
    return controls <= max(STRAY_CONTROLS, max_control_share * min(len(text), 100_000))


def decode_bytes(
    data: bytes,
    fallbacks: list[str],
    declared: str | None = None,
    max_control_share: float = 0.001,
    max_replacement_share: float = 0.0001,
) -> tuple[str, str]:
    """Return (text, encoding used) or raise DecodeError with a reason."""
    if not data.strip():
        raise DecodeError("empty", "file is empty or whitespace only")
    text: str | None
    for bom, enc in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                text = data.decode(enc)
            except UnicodeDecodeError as exc:
                raise DecodeError("undecodable", f"bad {enc} after BOM: {exc}") from None
            _check_text(text, enc, max_control_share)
            return text, enc
    utf16 = utf16_without_bom(data)
    if utf16 is not None:
        _check_text(utf16, "utf-16", max_control_share)
        return utf16, "utf-16"
    # a declared 8-bit charset is tried after UTF-8: pages often declare latin-1 but send UTF-8
    candidates = ["utf-8"] + ([declared] if declared else [])
    seen: set[str] = set()
    for enc in candidates:
        text = _strict(data, enc, seen, max_control_share)
        if text is not None:
            return text, codecs.lookup(enc).name
    # UTF-8 with a few broken sequences (a teaser cut mid-character): keep it, with U+FFFD for
    # the bad bytes, rather than reading the whole page in an 8-bit fallback as mojibake
    if declared is None or codecs.lookup(declared).name == "utf-8":
        text = data.decode("utf-8", "replace")
        if text.count("\ufffd") <= max(1, len(data) * max_replacement_share):
            _check_text(text, "utf-8", max_control_share)
            return text, "utf-8"
    # Windows-1258 decodes nearly anything: it wins only when the text reads as Vietnamese,
    # else the first fallback that decodes at all
    decodable = []
    for enc in fallbacks:
        text = _strict(data, enc, seen, max_control_share)
        if text is not None and reads_as(text, enc):
            return text, codecs.lookup(enc).name
        if text is not None:
            decodable.append((text, codecs.lookup(enc).name))
    if decodable:
        return decodable[0]
    raise DecodeError("undecodable", f"not valid in any of: {', '.join(candidates + list(fallbacks))}")


def _strict(data: bytes, enc: str, seen: set[str], max_control_share: float) -> str | None:
    """`data` decoded strictly as `enc` (None if invalid or already tried); binary data raises."""
    key = codecs.lookup(enc).name
    if key in seen:
        return None
    seen.add(key)
    try:
        text = data.decode(enc)
    except (UnicodeDecodeError, LookupError):
        return None
    if not has_no_controls(data, key):  # the bytes show none: no binary data to look for
        _check_text(text, key, max_control_share)
    return text


def _check_text(text: str, encoding: str, max_control_share: float) -> None:
    if not _looks_like_text(text, max_control_share):
        raise DecodeError(
            "binary",
            f"decoded as {encoding} but {len(_CONTROL.findall(text[:100_000]))} "
            "control characters: binary data?",
        )


class Decode(Step):
    """Turn `doc.raw` into `doc.text` (NFC). Documents without raw bytes pass through."""

    name = "decode"
    pipeline_stage = "read"

    class Options(Schema):
        fallback_encodings: list[str] = option(["cp1258", "cp1252"])
        max_control_share: float = 0.001
        max_replacement_share: float = 0.0001  # broken UTF-8 sequences tolerated per byte

    def process(self, doc: Document) -> None:
        if doc.raw is None:
            # text given by a reader (JSONL) may hold controls or mojibake too, and is not NFC yet. Its
            # UTF-8 (without surrogates, the bytes it decodes from) lets the byte pre-tests of decoded
            # pages stand for the three regex scans of the text (~4x cheaper)
            text, data = doc.text, doc.text.encode("utf-8", "surrogatepass")
            if has_surrogates(data):
                text = self._repair(doc, fix_surrogates(text))
            else:
                text = self._repair(doc, text, data, "utf-8")
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            doc.text = unicodedata.normalize("NFC", text)
            doc.metadata.setdefault(
                "n_chars_raw", len(doc.text)
            )  # length before cleaning, for the run report
            return
        data, doc.raw = doc.raw, None
        declared = (
            declared_charset(data, doc.provenance.get("http_charset")) if doc.media_type == "html" else None
        )
        try:
            text, encoding = decode_bytes(
                data,
                self.options["fallback_encodings"],
                declared,
                self.options["max_control_share"],
                self.options["max_replacement_share"],
            )
        except DecodeError as exc:
            doc.drop(self.name, exc.reason, f"{doc.provenance.get('file', doc.id)}: {exc}", error=True)
            return
        doc.provenance["encoding"] = encoding
        text = self._repair(doc, text, data, encoding)
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        doc.text = unicodedata.normalize("NFC", text)
        doc.metadata["n_chars_raw"] = len(doc.text)  # length before cleaning, for the run report

    def _repair(self, doc: Document, text: str, data: bytes | None = None, encoding: str = "") -> str:
        """Stray control characters out (they passed the binary check), mojibake put right.
        (Text decoded from bytes holds no lone surrogates; reader-given text is fixed first.)
        HTML is repaired here too, before parsing: the parser turns a misread no-break space
        (the 0xA0 in "à", "Ạ") into a plain space, which no repair can undo afterwards.
        `data`, the bytes `text` was decoded from as `encoding`, can show there is nothing to do."""
        n_controls = 0
        if data is None or not has_no_controls(data, encoding):
            text, n_controls = strip_controls(text)
        if n_controls:
            self.stats.counters["control_chars_removed"] += n_controls
        # removed controls may join the two characters of a mojibake pair: then the bytes cannot tell
        if data is not None and not n_controls and not may_hold_mojibake(data, encoding):
            return text
        text, repaired = repair_mojibake(text)
        if repaired:
            doc.metadata["mojibake_repaired"] = True
            self.stats.counters["mojibake_repaired"] += 1
        return text
