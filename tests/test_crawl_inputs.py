"""Real crawl inputs (issue 3): WARC archives and JSONL crawls made here, read, decoded, extracted.

Reader-level tests need nothing but the reader; the end-to-end tests run the whole
pipeline with the shipped config (extract_html included).
"""

from __future__ import annotations

import gzip
import json
import unicodedata
from collections import Counter
from pathlib import Path

import pytest
from corpus_helpers import article, small_config

from pipeline.cli import main
from pipeline.corpus import read_jsonl
from pipeline.s1_read.decode import Decode
from pipeline.s1_read.inputs import read_file
from pipeline.s1_read.warc import WarcReader

OPTIONS = {
    "max_bytes": 1 << 20,
    "jsonl_fields": {
        "id": "id",
        "url": "url",
        "html": "html",
        "text": "text",
        "title": "title",
        "created": "date",
    },
}
DATE = "2025-01-30T08:15:00Z"
ENGLISH = [
    "The city council approved a new plan on Tuesday to expand public transport across the northern districts.",
    "Officials said the first bus lines would open next spring, followed by a light rail link to the airport.",
    "“We have waited a long time for this,” said Anne-Marie Dubois, who runs a small café near the station.",
    "Critics argue the budget is too optimistic — construction costs have risen sharply over the past two years.",
    "The mayor promised regular public reports on spending and said residents would be consulted on every route.",
    "Local businesses welcomed the decision and expect more customers once the new stations are finished.",
]
TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"


def to_cp1258(text: str) -> bytes:
    """Windows-1258 as Vietnamese legacy software writes it: base letter, then a combining tone mark."""
    out = []
    for ch in text:
        try:
            out.append(ch.encode("cp1258"))
        except UnicodeEncodeError:
            decomposed = unicodedata.normalize("NFD", ch)
            base = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in TONE_MARKS))
            out.append((base + "".join(c for c in decomposed if c in TONE_MARKS)).encode("cp1258"))
    return b"".join(out)


def paragraphs_of(i: int) -> tuple[str, list[str]]:
    title, body = article(i).strip().split("\n\n", 1)
    return title, body.split("\n\n")


def html_page(
    title: str,
    paragraphs: list[str],
    *,
    author: str = "",
    date: str = "",
    meta_charset: str = "",
    canonical: str = "",
    home: str = "Trang chủ",
) -> str:
    head = [
        f'<meta charset="{meta_charset}">' if meta_charset else "",
        f"<title>{title}</title>",
        f'<meta name="author" content="{author}">' if author else "",
        f'<meta property="article:published_time" content="{date}">' if date else "",
        f'<link rel="canonical" href="{canonical}">' if canonical else "",
    ]
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html><head>{''.join(head)}</head><body><nav><a href='/'>{home}</a></nav>"
        f"<article><h1>{title}</h1>{body}</article><footer>© 2025</footer></body></html>"
    )


def http(
    payload: bytes,
    content_type: str = "text/html; charset=utf-8",
    status: str = "200 OK",
    headers: tuple[str, ...] = (),
) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Type: {content_type}", *headers]
    if not any(h.lower().startswith("transfer-encoding") for h in headers):
        lines.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


def warc_record(
    rec_type: str, uri: str, block: bytes, record_id: str, content_type: str | None = None
) -> bytes:
    content_type = content_type or {
        "response": "application/http; msgtype=response",
        "request": "application/http; msgtype=request",
    }.get(rec_type, "text/plain")
    head = (
        f"WARC/1.1\r\nWARC-Type: {rec_type}\r\nWARC-Record-ID: <urn:uuid:{record_id}>\r\nWARC-Date: {DATE}\r\n"
        + (f"WARC-Target-URI: {uri}\r\n" if uri else "")
        + f"Content-Type: {content_type}\r\nContent-Length: {len(block)}\r\n\r\n"
    )
    return head.encode() + block + b"\r\n\r\n"


def request(uri: str, record_id: str) -> bytes:
    host = uri.split("/")[2]
    return warc_record("request", uri, f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode(), record_id)


def chunked(data: bytes, size: int = 100) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size]) for i in range(0, len(data), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


# --- the crawl the tests share -------------------------------------------------------------

VI_TITLE, VI_PARAS = paragraphs_of(11)
OLD_TITLE, OLD_PARAS = paragraphs_of(12)  # the Windows-1258 page (meta charset only)
GZ_TITLE, GZ_PARAS = paragraphs_of(13)  # chunked + gzip content encoding
RES_TITLE, RES_PARAS = paragraphs_of(14)  # a `resource` record
AFTER_TITLE, AFTER_PARAS = paragraphs_of(15)  # after the broken record
EN_TITLE = "Council approves transport plan"

GOOD_URL = "https://vnexpress.net/kinh-te/bai-11.html"


def crawl_records() -> list[tuple[bytes, str | None]]:
    """(WARC record bytes, what becomes of it) in file order; None = not a document (counted only)."""
    utf8 = html_page(VI_TITLE, VI_PARAS, author="Nguyễn Văn An", date="2025-01-30T07:00:00+07:00").encode()
    cp1258 = to_cp1258(html_page(OLD_TITLE, OLD_PARAS, meta_charset="windows-1258"))
    cp1252 = html_page(
        EN_TITLE, [" ".join(ENGLISH[:3]), " ".join(ENGLISH[3:])], author="John Smith", home="Home"
    ).encode("cp1252")  # charset in HTTP only
    zipped = gzip.compress(html_page(GZ_TITLE, GZ_PARAS).encode())
    return [
        (
            warc_record(
                "warcinfo",
                "",
                b"software: newsclean-tests\r\nformat: WARC File Format 1.1\r\n",
                "0-info",
                "application/warc-fields",
            ),
            None,
        ),
        (request(GOOD_URL, "1-req"), None),
        (warc_record("response", GOOD_URL, http(utf8), "1-resp"), "kept"),
        (
            warc_record("metadata", GOOD_URL, b"fetchTimeMs: 120\r\n", "1-meta", "application/warc-fields"),
            None,
        ),
        (
            warc_record(
                "response",
                "https://vnexpress.net/logo.png",
                http(b"\x89PNG\r\n\x1a\n" + bytes(300), "image/png"),
                "2-png",
            ),
            "not_html",
        ),
        (
            warc_record(
                "response",
                "https://vnexpress.net/robots.txt",
                http(b"User-agent: *\nDisallow: /admin\n", "text/plain"),
                "3-robots",
            ),
            "not_html",
        ),
        (
            warc_record(
                "response",
                "https://vnexpress.net/cu",
                http(b"<html>Moved</html>", status="301 Moved Permanently", headers=("Location: /moi",)),
                "4-redirect",
            ),
            "http_status",
        ),
        (
            warc_record("response", "https://baocu.vn/bai-12.htm", http(cp1258, "text/html"), "5-cp1258"),
            "kept",
        ),
        (
            warc_record(
                "response",
                "https://news.example.com/transport",
                http(cp1252, "text/html; charset=windows-1252"),
                "6-cp1252",
            ),
            "kept",
        ),
        (
            warc_record(
                "response",
                "https://tuoitre.vn/bai-13.htm",
                http(chunked(zipped), headers=("Content-Encoding: gzip", "Transfer-Encoding: chunked")),
                "7-chunked",
            ),
            "kept",
        ),
        (
            warc_record(
                "resource",
                "https://dantri.com.vn/bai-14.htm",
                html_page(RES_TITLE, RES_PARAS).encode(),
                "8-resource",
                "text/html",
            ),
            "kept",
        ),
        (
            b"WARC/1.1\r\nWARC-Type: response\r\nThis is not a header line\r\n\x00\x01garbage\r\n\r\n",
            "broken_record",
        ),
        (
            warc_record(
                "response",
                "https://thanhnien.vn/bai-15.htm",
                http(html_page(AFTER_TITLE, AFTER_PARAS).encode()),
                "9-after",
            ),
            "kept",
        ),
    ]


def write_warc(path: Path, records: list[bytes], per_record_gzip: bool | None = None) -> Path:
    gz = path.name.endswith(".gz") if per_record_gzip is None else per_record_gzip
    path.write_bytes(b"".join(gzip.compress(r) for r in records) if gz else b"".join(records))
    return path


def read_all(path: Path, options: dict = OPTIONS) -> list:
    return [doc for _n, doc in read_file(path, path.parent, options)]


def test_each_extension_has_one_reader_class_and_page_files_hold_one_record(tmp_path):
    from pipeline.s1_read.inputs import READER_CLASSES, READERS

    assert len(READERS) == sum(len(cls.extensions) for cls in READER_CLASSES)  # no extension claimed twice
    assert {ext for ext, cls in READERS.items() if cls.many_records} == {
        ".jsonl",
        ".ndjson",
        ".json",
        ".warc",
    }
    page = tmp_path / "page.html"
    page.write_bytes(b"<html>x</html>")
    assert [(n, d.id) for n, d in read_file(page, tmp_path, OPTIONS)] == [(0, "page")]
    assert list(read_file(page, tmp_path, OPTIONS, (1, 2))) == []  # no second record


# --- reader level ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["crawl.warc", "crawl.warc.gz"])
def test_every_response_record_is_a_document_and_nothing_else_is(tmp_path, name):
    records = crawl_records()
    path = write_warc(tmp_path / name, [r for r, _ in records])
    docs = read_all(path)
    expected = [(n, fate) for n, (_r, fate) in enumerate(records, 1) if fate]
    assert [
        (int(d.provenance["input_path"].rpartition("#")[2]), d.drop_reason or "kept") for d in docs
    ] == expected
    assert WarcReader(OPTIONS).count(path) == len(docs)  # the planner's count agrees with the reader
    by_id = {d.id: d for d in docs}
    good = by_id["urn:uuid:1-resp"]
    assert good.media_type == "html" and good.provenance["input_path"] == f"{name}#3"
    assert good.metadata == {"url": GOOD_URL, "crawl_date": DATE}  # the fetch date, not a publication date
    assert good.provenance["http_charset"] == "utf-8" and good.provenance["http_status"] == 200
    assert good.raw.startswith(b"<!DOCTYPE html>") and VI_PARAS[0].encode() in good.raw
    for rid in ("2-png", "3-robots", "4-redirect"):  # dropped with a reason, not errors, no payload carried
        doc = by_id[f"urn:uuid:{rid}"]
        assert not doc.is_error and doc.raw is None and name in doc.drop_detail
    assert (
        "image/png" in by_id["urn:uuid:2-png"].drop_detail
        and "301" in by_id["urn:uuid:4-redirect"].drop_detail
    )
    [broken] = [d for d in docs if d.is_error]
    assert broken.drop_reason == "broken_record" and broken.drop_stage == "read"
    assert f"{path}: record 12 at offset" in broken.drop_detail  # names the file and the record
    # request, metadata and warcinfo records are not documents, but counted for the read stage
    counted = Counter()
    list(read_file(path, path.parent, OPTIONS, counters=counted))
    assert counted == {"warc_warcinfo_records": 1, "warc_request_records": 1, "warc_metadata_records": 1}


def test_payload_is_dechunked_and_decompressed_and_charsets_reach_decode(tmp_path):
    path = write_warc(tmp_path / "crawl.warc.gz", [r for r, _ in crawl_records()])
    by_id = {d.id: d for d in read_all(path)}
    assert by_id["urn:uuid:7-chunked"].raw == html_page(GZ_TITLE, GZ_PARAS).encode()
    assert by_id["urn:uuid:8-resource"].raw == html_page(RES_TITLE, RES_PARAS).encode()
    texts = {}
    for rid in ("5-cp1258", "6-cp1252"):
        doc = by_id[f"urn:uuid:{rid}"]
        Decode().process(doc)
        assert not doc.dropped, doc.drop_detail
        texts[rid] = (doc.text, doc.provenance["encoding"])
    text, encoding = texts["5-cp1258"]  # charset only in <meta>: combining tone marks composed (NFC)
    assert encoding == "cp1258" and all(p in text for p in OLD_PARAS)
    text, encoding = texts["6-cp1252"]  # charset only in the HTTP header
    assert encoding == "cp1252" and "“We have waited a long time for this,”" in text and "café" in text


def test_truncated_gzip_keeps_the_records_before_the_cut(tmp_path):
    records = [r for r, _ in crawl_records()]
    full = b"".join(gzip.compress(r) for r in records)
    path = tmp_path / "cut.warc.gz"
    path.write_bytes(full[: len(full) - 60])  # inside the last member
    docs = read_all(path)
    assert docs[-1].is_error and docs[-1].drop_reason == "truncated" and str(path) in docs[-1].drop_detail
    assert docs[-1].provenance["input_path"] == f"cut.warc.gz#{len(records)}"
    assert [d.id for d in docs[:-1] if not d.dropped] == [
        f"urn:uuid:{i}" for i in ("1-resp", "5-cp1258", "6-cp1252", "7-chunked", "8-resource")
    ]


@pytest.mark.parametrize("layout", ["warc", "warc.gz", "one-gzip-stream.warc.gz"])
def test_every_cut_point_is_an_error_or_a_record_boundary(tmp_path, layout):
    """Cut the file at every byte: the records wholly before the cut are read intact, and a record
    that was cut is an error record; never a partial page, a crash or a silent loss."""
    pages = [
        warc_record(
            "response", f"https://a.vn/{i}", http(html_page(f"T{i}", [f"đoạn {i} " * 20]).encode()), f"p{i}"
        )
        for i in range(3)
    ]
    records = [request("https://a.vn/0", "q")] + pages
    payload_len = len(html_page("T0", ["đoạn 0 " * 20]).encode())  # the same for every page
    if layout == "warc":
        data, ends = b"".join(records), []
        for r in records:
            ends.append((ends[-1] if ends else 0) + len(r))
        ends = [e - 4 for e in ends]  # the blank lines after a record are not part of it
    elif layout == "warc.gz":
        members = [gzip.compress(r) for r in records]
        data, ends = b"".join(members), []
        for m in members:
            ends.append((ends[-1] if ends else 0) + len(m))
    else:
        data, ends = gzip.compress(b"".join(records)), [None] * 3 + [None]
    path = tmp_path / f"cut.{layout.rpartition('one-gzip-stream.')[2]}"
    step = 2 if layout != "warc" else 3  # every 2nd/3rd byte: each header, payload and gzip part is hit
    for cut in range(1, len(data), step):
        path.write_bytes(data[:cut])
        docs = read_all(path)
        kept = [d for d in docs if not d.dropped]
        errors = [d for d in docs if d.is_error]
        assert all(len(d.raw) == payload_len for d in kept), cut  # never a partial page
        assert all(d.drop_reason == "truncated" for d in errors), cut  # a cut file says so
        whole = sum(1 for e in ends[1:] if e is not None and e <= cut)
        assert errors or len(kept) == whole, f"cut at {cut}: {len(kept)} pages, no error record"
        assert WarcReader(OPTIONS).count(path) == len(docs)


def test_record_ranges_equal_reading_the_whole_archive(tmp_path):
    path = write_warc(tmp_path / "crawl.warc.gz", [r for r, _ in crawl_records()])
    whole_counted, pieces_counted = Counter(), Counter()
    whole = [(n, d.id, d.drop_reason) for n, d in read_file(path, tmp_path, OPTIONS, counters=whole_counted)]
    n = WarcReader(OPTIONS).count(path)
    assert whole_counted == {
        "warc_warcinfo_records": 1,
        "warc_request_records": 1,
        "warc_metadata_records": 1,
    }
    for size in (1, 2, 3, 4):
        pieces_counted.clear()
        pieces = [
            (k, d.id, d.drop_reason)
            for start in range(0, n, size)
            for k, d in read_file(
                path, tmp_path, OPTIONS, (start, min(n, start + size)), counters=pieces_counted
            )
        ]
        assert pieces == whole and pieces_counted == whole_counted  # each skipped record counted once


def test_payload_over_max_bytes_is_an_error_and_the_next_record_is_read(tmp_path):
    big = html_page("Lớn", ["chữ " * 5000]).encode()
    path = write_warc(
        tmp_path / "big.warc",
        [
            warc_record("response", "https://a.vn/big", http(big), "big"),
            warc_record("response", "https://a.vn/ok", http(b"<html>ok</html>"), "ok"),
        ],
    )
    big_doc, ok = read_all(path, {**OPTIONS, "max_bytes": 10_000})
    assert (
        big_doc.is_error and big_doc.drop_reason == "too_large" and "max_bytes=10000" in big_doc.drop_detail
    )
    assert not ok.dropped and ok.raw == b"<html>ok</html>"


# --- end to end (with extract_html) ---------------------------------------------------------------


def jsonl_crawl() -> list[str]:
    title, paras = paragraphs_of(16)
    text_title, text_paras = paragraphs_of(17)
    return [
        json.dumps(
            {
                "id": "j-html",
                "url": "https://www.nhandan.vn/bai-16.html",
                "date": "2025-02-01 09:30",
                "html": html_page(title, paras, author="Trần Thị Bình"),
            },
            ensure_ascii=False,
        ),
        json.dumps(
            {
                "id": "j-text",
                "url": "https://laodong.vn/bai-17.ldo",
                "title": text_title,
                "text": "\n\n".join(text_paras),
            },
            ensure_ascii=False,
        ),
        '{"id": "j-broken", "html": "<html>',  # a line cut by a crashed crawler
        json.dumps({"id": "j-empty", "html": "   "}),
    ]


@pytest.fixture(scope="module")
def crawl_run(tmp_path_factory) -> dict:
    """One pipeline run over the crawl files (shared by the end-to-end tests: it takes seconds)."""
    tmp_path = tmp_path_factory.mktemp("crawl")
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "dump.txt").write_text(article(18), encoding="utf-8")  # a text dump, for the record fields
    write_warc(inputs / "crawl.warc.gz", [r for r, _ in crawl_records()])
    full = b"".join(gzip.compress(r) for r, _ in crawl_records()[:4])
    (inputs / "cut.warc.gz").write_bytes(full[: len(full) - 60])  # a truncated archive
    (inputs / "crawl.jsonl").write_text("\n".join(jsonl_crawl()) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", "-c", str(small_config(tmp_path)), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    run = next((out / "runs").iterdir())
    manifest = json.loads((run / "manifest.json").read_text())
    kept = {r["id"]: r for s in manifest["shards"] for r in read_jsonl(run / s["file"])}
    rejects = [r for s in manifest["rejects"] for r in read_jsonl(run / s["file"])]
    return {"manifest": manifest, "kept": kept, "rejects": rejects}


def test_crawl_files_end_to_end_nothing_lost(crawl_run):
    manifest, kept, rejects = crawl_run["manifest"], crawl_run["kept"], crawl_run["rejects"]
    counts = manifest["counts"]
    warc_docs = sum(1 for _r, fate in crawl_records() if fate)
    cut_docs = 2  # the first response of cut.warc.gz (whole), then the truncated record
    assert counts["documents"] == warc_docs + cut_docs + len(jsonl_crawl()) + 1  # + dump.txt
    assert counts["documents"] == counts["kept"] + counts["dropped"] + counts["errors"]
    assert len(kept) == counts["kept"] and len(rejects) == counts["dropped"] + counts["errors"]
    rejected = {r["id"]: r for r in rejects}
    # every WARC page kept (cp1258 and cp1252 pages decoded right), every other record rejected with its reason
    for rid in ("1-resp", "5-cp1258", "6-cp1252", "7-chunked", "8-resource", "9-after"):
        assert f"urn:uuid:{rid}" in kept, rejected.get(f"urn:uuid:{rid}")
    assert [
        (rejected[f"urn:uuid:{rid}"]["reason"], rejected[f"urn:uuid:{rid}"]["error"])
        for rid in ("2-png", "3-robots", "4-redirect")
    ] == [("not_html", False), ("not_html", False), ("http_status", False)]
    errors = sorted((r["metadata"]["input_path"], r["reason"]) for r in rejects if r["error"])
    assert errors == [
        ("crawl.jsonl#3", "invalid_json"),
        ("crawl.jsonl#4", "missing_field"),
        ("crawl.warc.gz#12", "broken_record"),
        ("cut.warc.gz#4", "truncated"),
    ]
    assert "urn:uuid:1-resp" in kept and "j-html" in kept and "j-text" in kept
    old = kept["urn:uuid:5-cp1258"]["text"]
    assert all(unicodedata.normalize("NFC", p)[:60] in old for p in OLD_PARAS)
    assert "“We have waited a long time for this,”" in kept["urn:uuid:6-cp1252"]["text"]
    assert GZ_PARAS[0][:60] in kept["urn:uuid:7-chunked"]["text"]
    read = manifest["stages"]["read"]
    assert read["counters"]["warc_request_records"] == 2  # one in each archive
    # the cut archive's metadata record is its truncated error record, not a counted one
    assert read["counters"]["warc_warcinfo_records"] == 2 and read["counters"]["warc_metadata_records"] == 1


def test_html_metadata_fills_the_fields_of_text_dumps(crawl_run):
    kept = crawl_run["kept"]
    dump = kept["dump.txt"]
    page = kept["urn:uuid:1-resp"]
    assert set(page) == set(dump) and set(dump["metadata"]) <= set(page["metadata"]) | {"source_attribution"}
    assert page["source"] == "vnexpress.net"  # the domain of the WARC-Target-URI
    assert page["metadata"]["url"] == GOOD_URL and page["metadata"]["title"] == VI_TITLE
    assert page["metadata"]["author"] == "Nguyễn Văn An"
    assert page["created"].startswith("2025-01-30")  # the article's date, not the crawl date
    assert page["metadata"]["crawl_date"] == DATE
    assert page["metadata"]["input_path"] == "crawl.warc.gz#3"
    crawled = kept["j-html"]
    assert crawled["source"] == "nhandan.vn" and crawled["created"].startswith("2025-02-01")
    assert crawled["metadata"]["author"] == "Trần Thị Bình" and crawled["metadata"]["title"]
    assert kept["urn:uuid:6-cp1252"]["source"] == "news.example.com"
