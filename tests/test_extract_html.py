"""extract_html: widget blocks removed by named rules before trafilatura, metadata like text dumps.

Pages are small and hand-made: an article of a few paragraphs plus one widget block
whose text must not reach the output; the rule that removed it is checked by name.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from corpus_helpers import SENTENCES, article, small_config
from lxml import html as lxml_html

from pipeline.cli import main
from pipeline.config import ConfigError
from pipeline.corpus import read_jsonl
from pipeline.document import Document
from pipeline.s2_extract.html import ExtractHtml
from pipeline.s2_extract.site_rules import load_site_rules, prune

ROOT = Path(__file__).resolve().parents[1]
CONTEXT = {"config_dir": str(ROOT / "config")}

ENGLISH = [
    "The city council approved the new budget on Tuesday after a long debate about public transport funding.",
    "Officials said the plan would add three new bus lines and extend the tram network by four kilometres.",
    "Residents who spoke at the meeting welcomed the investment but asked for more frequent night services.",
    "The mayor told reporters that construction should begin next spring and finish within two years.",
    "Opposition members argued that the cost estimates were too optimistic given rising material prices.",
    "A final vote on the detailed timetable is expected at the next session of the council in March.",
]


def paragraphs(sentences=SENTENCES, n=6) -> str:
    return "".join(f"<p>{s} {s}</p>" for s in sentences[:n])


def page(body: str, head: str = "", article_attrs: str = "") -> str:
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Tiêu đề bài viết thử nghiệm</title>{head}"
        f"</head><body><header><nav><a href='/'>Trang chủ</a></nav></header>{body}"
        "<footer><p>Bản quyền thuộc về tòa soạn.</p></footer></body></html>"
    )


def extract(html: str, url: str | None = None, options: dict | None = None) -> tuple[Document, ExtractHtml]:
    step = ExtractHtml(options or {}, CONTEXT)
    doc = Document(id="page", text=html, media_type="html", metadata={"url": url} if url else {})
    list(step.run([doc]))
    return doc, step


WIDGETS = {  # rule name -> a widget block as sites put it next to the article
    "related_box": "<div class='related-posts'><h3>Tin liên quan</h3><ul><li><a href='/a'>Một bài khác hoàn toàn "
    "về thị trường bất động sản năm nay</a></li></ul></div>",
    "share_bar": "<div class='social-share'><a href='#'>Chia sẻ bài viết này lên mạng xã hội Facebook ngay</a></div>",
    "comment_box": "<div id='comments'><h3>Ý kiến bạn đọc</h3><p>Bài viết rất hay, cảm ơn tác giả đã chia sẻ "
    "thông tin bổ ích này với mọi người.</p></div>",
    "weather_widget": "<div class='weather'><p>Hà Nội hôm nay trời nắng nóng, nhiệt độ cao nhất 36 độ C, "
    "độ ẩm tám mươi phần trăm.</p></div>",
    "audio_player": "<div class='audio-player'><p>Nghe bài viết này bằng giọng đọc tự động của hệ thống "
    "trí tuệ nhân tạo.</p><audio src='a.mp3'></audio></div>",
    "tag_list": "<div class='tags'><p>Từ khóa của bài: kinh tế xã hội, ngân sách địa phương, "
    "giao thông nông thôn.</p></div>",
}
WIDGET_TEXT = {
    "related_box": "thị trường bất động sản",
    "share_bar": "Chia sẻ bài viết",
    "comment_box": "cảm ơn tác giả",
    "weather_widget": "nhiệt độ cao nhất",
    "audio_player": "giọng đọc tự động",
    "tag_list": "Từ khóa của bài",
}


@pytest.mark.parametrize("rule", sorted(WIDGETS))
def test_generic_widget_removed_by_its_rule(rule):
    # the widget inside the article column, where extractors tend to keep it
    doc, step = extract(page(f"<article><h1>Tiêu đề</h1>{paragraphs()}{WIDGETS[rule]}</article>"))
    assert not doc.dropped, doc.drop_detail
    assert SENTENCES[0] in doc.text and SENTENCES[5] in doc.text
    assert WIDGET_TEXT[rule] not in doc.text
    assert step.stats.counters[f"dropped:{rule}"] == 1
    assert doc.metadata["html_removed"] == {rule: 1}
    assert doc.media_type == "text"


def test_paragraphs_one_per_line():
    doc, _ = extract(page(f"<article>{paragraphs()}</article>"))
    lines = doc.text.split("\n")
    assert len(lines) == 6 and all(line.startswith(SENTENCES[i]) for i, line in enumerate(lines))


VNEXPRESS = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Bài VnExpress</title>
<link rel="canonical" href="https://vnexpress.net/bai-viet-123.html"></head><body>
<div class="sidebar-1"><h1 class="title-detail">Bài VnExpress</h1>
<article class="fck_detail">{paragraphs}
<div class="box-tinlienquanv2"><article class="item-news"><p>Tin liên quan: một vụ việc khác đã xảy ra ở tỉnh bên cạnh vào tuần trước.</p></article></div>
</article>
<div id="box_comment_vne"><p>Ý kiến của độc giả về chính sách mới được đăng ở đây rất nhiều và dài dòng.</p></div>
</div><div class="sidebar-2"><p>Xem nhiều nhất trong ngày hôm nay ở chuyên mục thời sự trong nước.</p></div>
</body></html>"""


def test_vnexpress_site_rules_and_its_sidebar_column(tmp_path):
    """vnexpress's article lives in `.sidebar-1`: its own related box and comments go, the article stays."""
    doc, step = extract(VNEXPRESS.format(paragraphs=paragraphs()))
    assert SENTENCES[0] in doc.text and SENTENCES[5] in doc.text
    assert "tỉnh bên cạnh" not in doc.text and "Ý kiến của độc giả" not in doc.text
    assert step.stats.counters["dropped:related_box"] == 1 and step.stats.counters["dropped:comment_box"] == 1
    assert doc.metadata["url"] == "https://vnexpress.net/bai-viet-123.html"  # from <link rel=canonical>

    # a blanket "drop sidebars" rule would take the whole article: the guards keep it
    sites = tmp_path / "sites.yaml"
    sites.write_text(
        (ROOT / "config" / "sites.yaml")
        .read_text(encoding="utf-8")
        .replace("generic:\n", 'generic:\n  sidebar:\n    - "[class*=sidebar]"\n', 1),
        encoding="utf-8",
    )
    doc, step = extract(VNEXPRESS.format(paragraphs=paragraphs()), options={"sites": str(sites)})
    assert SENTENCES[0] in doc.text and SENTENCES[5] in doc.text
    assert step.stats.counters["guarded:sidebar"] == 1  # .sidebar-1 kept (it holds article.fck_detail)
    assert step.stats.counters["dropped:sidebar"] == 1  # .sidebar-2 removed
    assert "Xem nhiều nhất" not in doc.text


def test_sidebar_holding_the_text_is_kept_without_site_rules(tmp_path):
    """On an unknown site the text-share guard alone keeps a generic match that holds the article."""
    sites = tmp_path / "sites.yaml"
    sites.write_text("generic:\n  sidebar: ['[class*=sidebar]']\n", encoding="utf-8")
    html = page(
        f"<div class='sidebar-main'><div>{paragraphs()}</div></div>"
        "<div class='sidebar-right'><p>Quảng cáo</p></div>"
    )
    doc, step = extract(html, url="https://example.org/a", options={"sites": str(sites)})
    assert SENTENCES[0] in doc.text
    counters = {k: n for k, n in step.stats.counters.items() if k != "trafilatura_fallbacks"}
    assert counters == {"guarded:sidebar": 1, "dropped:sidebar": 1}


def test_tuoitre_related_boxes_go_their_photos_stay():
    html = page(
        f"<div class='detail-content'>{paragraphs(n=3)}"
        "<div class='VCSortableInPreviewMode' type='Photo'><img src='p.jpg'><p>Ảnh: chú thích</p></div>"
        "<div class='VCSortableInPreviewMode'><figure><img src='q.jpg'></figure>"
        "<div type='RelatedOneNews'><a href='/x'>Tin liên quan số một về vụ việc</a></div></div>"
        f"<div type='RelatedNewsBox'><a href='/y'>Hộp tin liên quan số hai</a></div>{paragraphs()[:0]}</div>"
    )
    tree = lxml_html.fromstring(html)
    removed, _ = prune(tree, load_site_rules(str(ROOT / "config" / "sites.yaml")), "tuoitre.vn")
    assert removed == {"related_box": 2}
    assert tree.xpath("//img/@src") == ["p.jpg", "q.jpg"]  # the wrapper (and its photo) is still there
    assert not tree.xpath("//*[@type='RelatedOneNews' or @type='RelatedNewsBox']")


def test_vietnamnet_rules():
    html = page(
        f"<div class='maincontent'>{paragraphs()}"
        "<div class='vnn-share-social'><a>Chia sẻ Facebook</a></div>"
        "<div class='related-news'><a>Bài liên quan đến chủ đề này</a></div>"
        "<div class='comment__box'><p>Bình luận của bạn đọc</p></div></div>"
    )
    tree = lxml_html.fromstring(html)
    removed, _ = prune(tree, load_site_rules(str(ROOT / "config" / "sites.yaml")), "m.vietnamnet.vn")
    assert removed == {"share_bar": 1, "related_box": 1, "comment_box": 1}


def test_bad_selector_is_a_config_error_with_file_and_line(tmp_path):
    sites = tmp_path / "sites.yaml"
    sites.write_text("generic:\n  related_box:\n    - '.ok'\n    - 'div[[oops'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sites\.yaml:4: bad CSS selector"):
        load_site_rules(str(sites))
    sites.write_text("generic: {}\nsites:\n  - domains: [a.vn]\n    colour: red\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sites\.yaml:3: unknown key 'colour'"):
        load_site_rules(str(sites))


def test_text_dumps_pass_through_untouched():
    step = ExtractHtml({}, CONTEXT)
    doc = Document(id="dump", text="<p>not html, a dump</p>\nline two")
    list(step.run([doc]))
    assert doc.text == "<p>not html, a dump</p>\nline two" and doc.media_type == "text" and not doc.dropped


def test_nothing_to_extract_is_dropped_with_a_reason():
    doc, step = extract(
        "<html><head><title>Menu</title></head><body><nav><a href='/'>Home</a>"
        "<a href='/b'>News</a></nav></body></html>"
    )
    assert doc.dropped and doc.drop_reason == "no_article" and not doc.is_error
    assert step.stats.dropped == {"no_article": 1}


def test_unparsable_is_an_error_record():
    doc, _ = extract("   ")
    assert doc.dropped and doc.is_error and doc.drop_reason == "unparsable"


def test_english_page_kept():
    doc, _ = extract(
        page(f"<article>{paragraphs(ENGLISH)}{WIDGETS['share_bar']}</article>"),
        url="https://www.example.com/news/budget",
    )
    assert ENGLISH[0] in doc.text and "Chia sẻ" not in doc.text


# --- through the whole pipeline: the same record fields as text dumps -------------------------

HEAD = (
    "<meta name='author' content='Nguyễn Văn An'>"
    "<meta property='article:published_time' content='2024-03-05T08:30:00+07:00'>"
    "<meta property='og:site_name' content='Báo Thử Nghiệm'>"
)


def run_pipeline(tmp_path: Path, files: dict[str, str]) -> tuple[list[dict], list[dict], dict]:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name, text in files.items():
        (inputs / name).write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", "-c", str(small_config(tmp_path)), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    run = next((out / "runs").iterdir())
    manifest = json.loads((run / "manifest.json").read_text())
    kept = [r for s in manifest["shards"] for r in read_jsonl(run / s["file"])]
    rejects = [r for s in manifest["rejects"] for r in read_jsonl(run / s["file"])]
    return kept, rejects, manifest


def body_of(i: int) -> str:
    return "".join(f"<p>{p}</p>" for p in article(i).split("\n\n")[1:])


def test_html_page_and_jsonl_record_fill_the_record_fields(tmp_path):
    html = page(
        f"<article>{body_of(3)}</article>",
        head=HEAD + "<link rel='canonical' href='https://www.baothu.vn/kinh-te/bai-3.html'>",
    )
    record = {
        "id": "rec-1",
        "url": "https://tintuc.example.vn/xa-hoi/bai-4.html",
        "html": page(f"<article>{body_of(4)}</article>", head=HEAD),
    }
    kept, rejects, manifest = run_pipeline(
        tmp_path, {"page.html": html, "crawl.jsonl": json.dumps(record, ensure_ascii=False) + "\n"}
    )
    assert rejects == [] and manifest["counts"]["kept"] == 2
    by_id = {r["id"]: r for r in kept}
    for doc_id, url, source in (
        ("page", "https://www.baothu.vn/kinh-te/bai-3.html", "baothu.vn"),
        ("rec-1", "https://tintuc.example.vn/xa-hoi/bai-4.html", "tintuc.example.vn"),
    ):
        rec = by_id[doc_id]
        assert rec["source"] == source
        assert rec["created"] == "2024-03-05"
        meta = rec["metadata"]
        assert meta["title"] == "Tiêu đề bài viết thử nghiệm" and meta["author"] == "Nguyễn Văn An"
        assert meta["url"] == url and meta["sitename"] == "Báo Thử Nghiệm"
        assert "Tiêu đề bài viết" not in rec["text"] and "Bản quyền" not in rec["text"]
        assert "\n\n" in rec["text"]  # paragraphs, as for text dumps


def test_html_in_a_legacy_charset_is_decoded_first(tmp_path):
    text = (
        "<html><head><meta charset='iso-8859-1'><title>Budget</title></head><body><article>"
        + "".join(f"<p>{s}</p>" for s in ENGLISH)
        + "<p>Caf\u00e9 \u201cquoted\u201d \u2013 dash</p></article></body></html>"
    )
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "old.html").write_bytes(text.encode("cp1252"))  # curly quotes and dash in 0x80-0x9f
    out = tmp_path / "out"
    assert main(["run", "-c", str(small_config(tmp_path)), "-i", str(inputs), "-o", str(out), "-q"]) == 0
    run = next((out / "runs").iterdir())
    manifest = json.loads((run / "manifest.json").read_text())
    [rec] = [r for s in manifest["shards"] for r in read_jsonl(run / s["file"])]
    assert "Café “quoted” – dash" in rec["text"]


def test_hostile_markup_is_fast():
    nested = "<html><body>" + "<div>" * 100_000 + "<p>deep</p>" + "</div>" * 100_000 + "</body></html>"
    started = time.monotonic()
    doc, _ = extract(nested)
    assert time.monotonic() - started < 10
    assert doc.dropped  # too little text either way; never a hang or a crash


# --- the line cleaner on extracted text: rules of other European languages, no dump header -------

GERMAN = [
    "Der Stadtrat hat am Dienstag nach langer Debatte den neuen Haushalt für den Nahverkehr beschlossen.",
    "Nach Angaben der Verwaltung sollen drei neue Buslinien entstehen und die Straßenbahn verlängert werden.",
    "Anwohner begrüßten die Investition, forderten aber häufigere Verbindungen in den Nachtstunden.",
]


def clean(text: str, **provenance) -> Document:
    from pipeline.s3_clean.clean import CleanLines
    from pipeline.s3_clean.dump_metadata import DumpMetadata

    doc = Document(id="t", text=text, provenance=provenance, metadata={"title": "Haushalt beschlossen"})
    steps = [
        CleanLines({"rules": ["rules/vi.yaml", "rules/en.yaml", "rules/web.yaml"]}, CONTEXT),
        DumpMetadata({}, CONTEXT),
    ]
    for step in steps:
        list(step.run([doc]))
    return doc


def test_web_rules_remove_teaser_labels_and_say_where():
    doc = clean(
        "\n".join(
            [
                GERMAN[0],
                "Lesen Sie auch: Neue Radwege für die Innenstadt geplant",
                GERMAN[1],
                "Foto: Max Mustermann/dpa",
                GERMAN[2],
                "Anzeige",
            ]
        ),
        extractor="trafilatura",
    )
    assert doc.text.split() == " ".join(GERMAN).split()
    rules = {r.rule: r.source for r in doc.removed}
    assert set(rules) == {"related_link", "photo_credit", "advertisement"}
    assert all(
        source.startswith("config/rules/web.yaml:") or "web.yaml:" in source for source in rules.values()
    )


def test_extracted_text_has_no_dump_header_to_parse():
    """A short first line of extracted text is the article (a heading), not a dump's site name or byline."""
    text = "\n".join(["Gebrauchsinformation", *GERMAN])
    assert clean(text, extractor="trafilatura").text.startswith("Gebrauchsinformation")
    assert not clean(text).text.startswith("Gebrauchsinformation")  # a page dump: its header line goes


def test_link_teaser_rule_when_switched_on(tmp_path):
    sites = tmp_path / "sites.yaml"
    sites.write_text(
        "link_teaser:\n  tags: [p]\n  min_link_share: 0.6\n  max_label_words: 3\ngeneric: {}\n",
        encoding="utf-8",
    )
    html = page(
        f"<article>{paragraphs(ENGLISH)}<p>Read also: <a href='/x'>Mayor opens a new bridge over the "
        "river</a></p><p>The plan <a href='/p'>was published</a> on the city website last week and "
        "drew many comments from residents.</p></article>"
    )
    doc, step = extract(html, options={"sites": str(sites)})
    assert "Mayor opens" not in doc.text and "was published" in doc.text  # prose with a link stays
    assert step.stats.counters["dropped:link_teaser"] == 1
    sites.write_text("link_teaser:\n  colour: red\n", encoding="utf-8")  # rewritten: read again
    with pytest.raises(ConfigError, match=r"sites\.yaml:2: link_teaser: unknown key 'colour'"):
        load_site_rules(str(sites))


def test_mojibake_page_gives_the_text_of_its_clean_twin():
    # UTF-8 read as Windows-1252 (bytes it leaves undefined kept as is, as browsers do): the markup is
    # repaired before parsing, since the parser would turn the misread no-break space of "à" into a space
    import ftfy.bad_codecs  # noqa: F401  registers sloppy-windows-1252

    clean_html = page(paragraphs())
    garbled_html = clean_html.encode("utf-8").decode("sloppy-windows-1252")
    assert "thÃ\xa0nh" in garbled_html
    from pipeline.s1_read.decode import Decode

    results = []
    for text in (clean_html, garbled_html):
        doc = Document(id="p", raw=text.encode("utf-8"), media_type="html")
        Decode({}).process(doc)
        step = ExtractHtml({}, CONTEXT)
        step.process(doc)
        results.append(doc)
    assert not results[1].dropped and results[1].text == results[0].text
    assert results[1].metadata.get("title") == results[0].metadata.get("title")
    assert results[1].metadata.get("mojibake_repaired") is True
