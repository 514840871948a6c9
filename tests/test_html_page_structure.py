"""extract_html on pages from unseen sites: page type (article or listing), captions, the lead, tables.

Small hand-made pages, one per case: a home page saying og:type=website, a JSON-LD CollectionPage, a teaser
grid with no metadata at all, real articles that must not be taken for listings (sidebars full of teasers,
a live blog, a photo story), a figcaption, a sapo outside the article container, a boxed paragraph in a
one-column table, and a data table.
"""

from __future__ import annotations

import json

import pytest
from corpus_helpers import SENTENCES
from lxml import html as lxml_html
from test_extract_html import CONTEXT

from pipeline.config import ConfigError
from pipeline.document import Document
from pipeline.s2_extract.html import ExtractHtml
from pipeline.s2_extract.page_type import url_shape
from pipeline.s2_extract.site_rules import drop_link_lists, load_site_rules

HEADLINES = [
    f"Tin nóng số {i}: chính quyền địa phương công bố kế hoạch phát triển mới cho khu vực {i}"
    for i in range(40)
]
SUMMARY = "Bản tin tóm tắt ngắn gọn về sự kiện trong ngày."


def page(body: str, head: str = "", title: str = "Tiêu đề bài viết thử nghiệm") -> str:
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>{head}</head>"
        f"<body><header><nav><a href='/'>Trang chủ</a> <a href='/the-thao'>Thể thao</a></nav></header>"
        f"{body}<footer><p>Bản quyền thuộc về tòa soạn.</p></footer></body></html>"
    )


def teaser_grid(n: int, summary: bool = True) -> str:
    items = "".join(
        f"<div class='item'><h3><a href='/bai-{i}.html'>{HEADLINES[i]}</a></h3>"
        + (f"<p class='description'>{SUMMARY}</p>" if summary else "")
        + "</div>"
        for i in range(n)
    )
    return f"<section class='list'>{items}</section>"


def body_paragraphs(n: int = 6) -> str:
    return "".join(f"<p>{s} {s}</p>" for s in SENTENCES[:n])


def og(kind: str) -> str:
    return f"<meta property='og:type' content='{kind}'>"


def jsonld(kind: str) -> str:
    return f"<script type='application/ld+json'>{json.dumps({'@context': 'https://schema.org', '@type': kind})}</script>"


def extract(html: str, url: str | None = None, options: dict | None = None) -> tuple[Document, ExtractHtml]:
    step = ExtractHtml(options or {}, CONTEXT)
    doc = Document(id="page", text=html, media_type="html", metadata={"url": url} if url else {})
    list(step.run([doc]))
    return doc, step


def lines(doc: Document) -> list[str]:
    return [line for line in doc.text.split("\n") if line.strip()]


# --- page type ----------------------------------------------------------------------------------------------


def test_home_page_with_og_type_website_is_not_an_article():
    doc, step = extract(page(teaser_grid(12)), url="https://baomoi.example.vn/", options={})
    assert doc.dropped and doc.drop_reason == "not_article"
    assert (
        "og:type" not in doc.drop_detail and "url=home" in doc.drop_detail and "teasers=12" in doc.drop_detail
    )
    doc, _ = extract(
        page(teaser_grid(12), head=og("website")), url="https://baomoi.example.vn/the-thao/bong-da"
    )
    assert doc.dropped and doc.drop_reason == "not_article"
    assert "og:type=website" in doc.drop_detail


def test_json_ld_collection_page_is_not_an_article():
    html = page(teaser_grid(12), head=jsonld("CollectionPage"))
    doc, _ = extract(html, url="https://tin.example.vn/p/a1b2c3d4e5f6")  # a URL that says nothing
    assert doc.dropped and doc.drop_reason == "not_article"
    assert "json-ld=collectionpage" in doc.drop_detail


def test_teaser_grid_without_any_metadata_is_not_an_article():
    # no og:type, no JSON-LD, no URL: 30 headline links and no prose longer than a teaser summary
    doc, step = extract(page(teaser_grid(30)))
    assert doc.dropped and doc.drop_reason == "not_article"
    assert step.stats.dropped["not_article"] == 1


def test_a_listing_is_not_extracted():
    # dropped before pruning and extraction: trafilatura is never called for it
    step = ExtractHtml({}, CONTEXT)
    step._extract = lambda *a, **k: pytest.fail("a listing must not be extracted")
    doc = Document(id="page", text=page(teaser_grid(30)), media_type="html")
    list(step.run([doc]))
    assert doc.drop_reason == "not_article"


def heading_cards(n: int, body: str = "") -> str:
    """Cards titled by a heading, not a link: picture, <h4>, a few bullet points, a "Read more" button."""
    items = "".join(
        f"<div class='col'><div class='card'><img src='{i}.jpg' alt='{HEADLINES[i]}'><div class='card-body'>"
        f"<h4 class='card-title'>{HEADLINES[i]}</h4>{body or f'<ul><li>{SUMMARY}</li><li>{SUMMARY}</li></ul>'}"
        "</div><div class='card-footer'><a href='#'><button>Xem thêm</button></a></div></div></div>"
        for i in range(n)
    )
    return f"<section class='insights'>{items}</section>"


def test_grid_of_cards_titled_by_headings_is_not_an_article():
    # a section page whose cards carry their headline as a heading (the link is a "Read more" button):
    # no headline links at all, yet a listing
    doc, _ = extract(page(heading_cards(12)), url="https://bank.example.vn/market-insights.page")
    assert doc.dropped and doc.drop_reason == "not_article"
    assert "heading_cards=12" in doc.drop_detail and "teasers=0" in doc.drop_detail


@pytest.mark.parametrize(
    "body",
    [
        # an article whose subheadings open sections with a link: the body is one long block of prose
        "".join(
            f"<h3>{HEADLINES[i]}</h3><p>{SENTENCES[i]} {SENTENCES[i]} <a href='/x'>nguồn</a></p>"
            for i in range(8)
        ),
        # a buying guide: cards titled by headings, each with a long review and a shop link
        heading_cards(12, body=f"<p>{' '.join(SENTENCES[:6])}</p>"),
    ],
)
def test_article_with_heading_cards_and_long_prose_is_kept(body):
    doc, _ = extract(
        page(f"<article><h1>Tiêu đề</h1>{body}</article>"), url="https://tin.example.vn/kinh-te/"
    )
    assert not doc.dropped, doc.drop_detail


@pytest.mark.parametrize(
    "head,url",
    [
        ("", None),  # no metadata: the prose decides
        (og("website"), "https://tin.example.vn/kinh-te/ngan-sach-tang-manh-123456.html"),  # og:type website
        (jsonld("NewsArticle"), "https://tin.example.vn/"),  # JSON-LD article type wins over anything
    ],
)
def test_article_with_teaser_sidebars_is_kept(head, url):
    # an article page with 40 teasers around it is still an article: its prose block is long
    html = page(
        f"<div class='sidebar'>{teaser_grid(20)}</div><article><h1>Tiêu đề</h1>{body_paragraphs()}"
        f"</article><div class='more'>{teaser_grid(20)}</div>",
        head=head,
    )
    doc, _ = extract(html, url=url)
    assert not doc.dropped, doc.drop_detail
    assert SENTENCES[0] in doc.text


def test_live_blog_and_photo_story_are_articles():
    # short entries in their own boxes (no long prose block) but the page says what it is
    entries = "".join(
        f"<div class='entry'><time>10:{i:02d}</time><p>{SENTENCES[i % 8]}</p></div>" for i in range(8)
    )
    live = page(teaser_grid(25) + f"<main>{entries}</main>", head=jsonld("LiveBlogPosting"))
    doc, _ = extract(live, url="https://tin.example.vn/truc-tiep")
    assert not doc.dropped, doc.drop_detail
    figures = "".join(
        f"<figure><img src='{i}.jpg' alt='ảnh {i}'><figcaption>Ảnh {i}: {SENTENCES[i]}</figcaption></figure>"
        for i in range(6)
    )
    photo = page(
        teaser_grid(25) + f"<article><h1>Phóng sự ảnh</h1><p class='sapo'>{SENTENCES[7]}</p>{figures}"
        "</article>",
        head=og("article"),
    )
    doc, _ = extract(photo, url="https://tin.example.vn/anh/phong-su-anh-ngay-moi-987654.html")
    assert not doc.dropped, doc.drop_detail


def test_url_shapes():
    assert url_shape("https://vnexpress.net/") == "home"
    assert url_shape("https://vnexpress.net/kinh-doanh") == "section"
    assert url_shape("https://znews.vn/chu-de/bong-da.html") == "listing"
    assert url_shape("https://tuoitre.vn/tim-kiem.htm?keywords=bao") == "listing"
    assert url_shape("https://vnexpress.net/gia-vang-tang-manh-4812345.html") == "article"
    assert url_shape("https://example.com/2024/05/12/some-story") == "article"
    assert url_shape(None) is None


# --- captions, leads, tables ------------------------------------------------------------------------------


def test_figcaption_kept_once_where_it_stands_and_alt_text_never():
    caption = "Toàn cảnh hội nghị tổng kết công tác năm tại hội trường lớn của thành phố."
    figure = (
        f"<figure><img src='a.jpg' alt='Ảnh minh họa hội nghị'><figcaption>{caption}</figcaption></figure>"
    )
    html = page(
        f"<article><h1>Tiêu đề</h1><p>{SENTENCES[0]}</p><p>{SENTENCES[1]}</p>{figure}"
        f"<p>{SENTENCES[2]}</p><p>{SENTENCES[3]}</p></article>"
    )
    doc, step = extract(html)
    assert not doc.dropped, doc.drop_detail
    got = lines(doc)
    assert got.count(caption) == 1
    assert got.index(caption) == got.index(SENTENCES[1]) + 1  # between the paragraphs around the figure
    assert "Ảnh minh họa" not in doc.text
    assert step.stats.counters["caption_restored"] == 1


def test_sapo_outside_the_article_container_is_the_first_paragraph():
    sapo = "Năm nay thành phố thu ngân sách vượt dự toán, nhiều công trình trọng điểm hoàn thành trước hạn."
    html = page(
        f"<div class='header'><h1>Tiêu đề</h1><h2 class='sapo'>{sapo}</h2></div>"
        f"<div class='related'><div class='item'><a href='/x.html'>{HEADLINES[0]}</a>"
        f"<p class='sapo'>{SUMMARY} {SUMMARY}</p></div></div>"
        f"<article class='content'>{body_paragraphs()}</article>"
    )
    doc, step = extract(html)
    assert not doc.dropped, doc.drop_detail
    got = lines(doc)
    assert got[0] == sapo and got.count(sapo) == 1
    assert SUMMARY not in doc.text  # a teaser's summary is not a lead


def test_one_column_table_gives_paragraphs_and_data_table_rows_have_no_markdown_pipes():
    boxed = (
        "Ông Nguyễn Văn A, Chủ tịch UBND thành phố, cho biết kết quả này nhờ sự nỗ lực của toàn hệ thống.",
        "Trong năm tới, thành phố sẽ tập trung cải cách hành chính và thu hút thêm đầu tư nước ngoài.",
    )
    box = f"<table class='box'><tbody><tr><td><p>{boxed[0]}</p><p>{boxed[1]}</p></td></tr></tbody></table>"
    data = (
        "<table><tr><th>Chỉ tiêu</th><th>Năm 2023</th><th>Năm 2024</th></tr>"
        "<tr><td>Thu ngân sách</td><td>100 tỷ</td><td>120 tỷ</td></tr></table>"
    )
    html = page(
        f"<article><h1>Tiêu đề</h1>{body_paragraphs(3)}{box}{body_paragraphs(3)[::1]}{data}"
        f"<p>{SENTENCES[5]}</p></article>"
    )
    doc, step = extract(html)
    assert not doc.dropped, doc.drop_detail
    got = lines(doc)
    assert boxed[0] in got and boxed[1] in got  # two paragraphs, no "| … |"
    assert "Thu ngân sách | 100 tỷ | 120 tỷ" in got
    assert not any(line.startswith("|") or line.endswith("|") for line in got), got
    assert step.stats.counters["layout_tables"] == 1


def test_photo_story_title_lead_and_each_caption_are_separate_paragraphs():
    lead = "Những khoảnh khắc đáng nhớ của lễ hội hoa xuân năm nay qua ống kính phóng viên."
    captions = [f"Ảnh {i + 1}: {SENTENCES[i]}" for i in range(5)]
    slides = "".join(
        f"<div class='slide'><img src='{i}.jpg' alt='hình {i}'><div class='caption'><p>{c}</p></div></div>"
        for i, c in enumerate(captions)
    )
    html = page(
        f"<article><h1>Lễ hội hoa xuân</h1><p class='sapo'>{lead}</p><div class='gallery'>{slides}</div>"
        "</article>",
        head=og("article"),
        title="Lễ hội hoa xuân",
    )
    doc, _ = extract(html, url="https://tin.example.vn/anh/le-hoi-hoa-xuan-123456.html")
    assert not doc.dropped, doc.drop_detail
    assert lines(doc) == [lead, *captions]
    assert doc.metadata["title"] == "Lễ hội hoa xuân"
    assert "hình" not in doc.text


def test_bad_caption_selector_is_a_config_error_with_file_and_line(tmp_path):
    path = tmp_path / "sites.yaml"
    path.write_text("generic: {}\ncaptions:\n  - figcaption\n  - 'p[['\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sites\.yaml:4: bad CSS selector"):
        load_site_rules(str(path))


def test_captions_only_for_the_configured_languages():
    # the extraction benchmark's gold (German, English…) counts captions as boilerplate; Vietnamese gold
    # counts them as article text: caption_languages decides, by the page's declared language
    caption = "The mayor speaks to reporters outside the city hall after the council meeting on Tuesday."
    english = [
        "The city council approved the new budget on Tuesday after a long debate about public transport.",
        "Officials said the plan would add three new bus lines and extend the tram network by four kilometres.",
        "Residents who spoke at the meeting welcomed the investment but asked for more frequent night services.",
    ]
    body = "".join(f"<p>{s}</p>" for s in english)
    html = (
        f"<html lang='en-GB'><head><title>Budget approved</title></head><body><article><h1>Budget approved</h1>"
        f"{body}<figure><img src='a.jpg'><figcaption>{caption}</figcaption></figure>{body}</article></body></html>"
    )
    doc, _ = extract(html)
    assert not doc.dropped and caption not in doc.text
    doc, step = extract(html, options={"caption_languages": ["*"]})
    assert caption in lines(doc) and step.stats.counters["caption_restored"] == 1


def test_lead_by_class_substring_or_meta_description():
    lead = "Sau hơn một năm tạm đình chỉ, cơ quan điều tra đã phục hồi điều tra vụ tai nạn giao thông."
    header = f"<div class='top'><h1>Tiêu đề</h1><h2 class='content-detail-sapo sm-mb-0'>{lead}</h2></div>"
    doc, step = extract(page(header + f"<article>{body_paragraphs()}</article>"))
    assert lines(doc)[0] == lead and step.stats.counters["lead_restored"] == 1
    # no lead class: the visible element holding the meta description is the lead
    header = f"<div class='top'><h1>Tiêu đề</h1><div class='intro'><strong>{lead}</strong></div></div>"
    doc, _ = extract(
        page(
            header + f"<article>{body_paragraphs()}</article>",
            head=f"<meta name='description' content='{lead}'>",
        )
    )
    assert lines(doc)[0] == lead


def test_lead_from_a_meta_description_holding_markup_or_a_chapo():
    lead = "Sau hơn một năm tạm đình chỉ, cơ quan điều tra đã phục hồi điều tra vụ tai nạn giao thông."
    # the CMS wrote the lead's HTML into the meta description: its text is still the lead's
    header = f"<div class='top'><h1>Tiêu đề</h1><div class='teaser-text'><p>{lead}</p></div></div>"
    html = page(
        header + f"<article>{body_paragraphs()}</article>",
        head=f"<meta name='description' content='&lt;p&gt;{lead}&lt;/p&gt;'>",
    )
    doc, step = extract(html)
    assert lines(doc)[0] == lead and step.stats.counters["lead_restored"] == 1
    # the French CMSs' chapô (SPIP's class "chapo") above the article container
    header = f"<div class='top'><h1>Tiêu đề</h1><div class='crayon article-chapo-12 chapo'><p>{lead}</p></div></div>"
    doc, _ = extract(page(header + f"<article>{body_paragraphs()}</article>"))
    assert lines(doc)[0] == lead


def test_title_is_the_only_h1():
    html = page(
        f"<article><h1>Người dân phấn khởi đón tết</h1>{body_paragraphs()}</article>",
        head="<meta property='og:title' content='Người dân phấn khởi đón tết | Báo Mẫu'>",
        title="Người dân phấn khởi đón tết - Báo Mẫu",
    )
    doc, _ = extract(html)
    assert doc.metadata["title"] == "Người dân phấn khởi đón tết"
    # two h1 (a logo and the headline): not trusted, trafilatura's choice stands
    doc, _ = extract(html.replace("<article>", "<article><h1>Báo Mẫu</h1>"))
    assert doc.metadata["title"] != "Báo Mẫu"


def test_list_of_headline_links_inside_the_body_is_removed_by_its_rule():
    related = "".join(f"<li><h4><a href='/r{i}.html'>{HEADLINES[i]}</a></h4></li>" for i in range(3))
    sources = "<ul><li><a href='/a'>Bộ Tài chính</a></li><li><a href='/b'>Tổng cục Thống kê</a></li></ul>"
    html = page(
        f"<article><h1>Tiêu đề</h1>{body_paragraphs(3)}<ul class='list-concern'>{related}</ul>"
        f"{body_paragraphs(6)[200:]}<p>Nguồn:</p>{sources}</article>"
    )
    doc, step = extract(html)
    assert not doc.dropped, doc.drop_detail
    assert HEADLINES[0] not in doc.text and SENTENCES[0] in doc.text
    # one list removed: the list of short source links is not a related list (trafilatura may still drop it)
    assert step.stats.counters["dropped:link_list"] == 1 and doc.metadata["html_removed"]["link_list"] == 1
    assert drop_link_lists(lxml_html.fromstring(f"<div>{sources}</div>"), 5) == 0


def test_author_without_the_by_word():
    html = page(
        f"<article><h1>Tiêu đề bài</h1><p class='author'>Theo Phạm Trường</p>{body_paragraphs()}</article>",
        head="<meta name='author' content='Theo Phạm Trường'>",
    )
    doc, _ = extract(html)
    assert doc.metadata["author"] == "Phạm Trường"
    english = (
        "<html lang='de'><head><title>Bericht</title><meta name='author' content='Theo Müller'></head><body>"
        f"<article><h1>Ein Bericht aus der Stadt</h1>{body_paragraphs()}</article></body></html>"
    )
    doc, _ = extract(english)
    assert doc.metadata["author"] == "Theo Müller"  # a first name on a German page


@pytest.mark.parametrize(
    "body",
    [
        "<table></table><table><tr></tr></table><table><caption>Bảng</caption><tr><td></td></tr></table>",
        "<figure><figcaption><figcaption>Chú thích lồng nhau trong một chú thích khác</figcaption></figcaption></figure>",
        "<p class='sapo'><a href='/x'>Một đường dẫn dài làm lead giả mạo cho bài viết này</a></p>",
        "<table><tr><td><table><tr><td>a</td><td>b</td></tr></table></td></tr></table>",
        "<!-- chú thích --><ul></ul><ol><li></li></ol>",
    ],
)
def test_odd_markup_is_handled(body):
    doc, _ = extract(
        page(f"<article><h1>Tiêu đề</h1>{body_paragraphs(3)}{body}{body_paragraphs(3)}</article>")
    )
    assert not doc.dropped, doc.drop_detail
    assert SENTENCES[0] in doc.text


def test_modal_dialog_is_removed_by_its_rule():
    modal = (
        "<div class='modal__payment'><div class='modal__content'><p>1 sao = 1000đ. Mua thêm sao để tham gia "
        "hoạt động tương tác trên báo như đổi quà lưu niệm.</p><p>Tổng số tiền thanh toán: 0đ</p></div></div>"
    )
    doc, step = extract(page(f"<main>{modal}<article><h1>Tiêu đề</h1>{body_paragraphs()}</article></main>"))
    assert not doc.dropped and SENTENCES[0] in doc.text
    assert "thanh toán" not in doc.text and step.stats.counters["dropped:modal_dialog"] == 1


def test_vietnamese_date_as_shown_by_the_headline():
    # htmldate misreads "Thứ hai, 20/7/2026, 06:33 (GMT+7)"; the header clock (with seconds) and a teaser's
    # date farther from the headline are not the publication time
    html = (
        "<html lang='vi'><head><title>Tiêu đề</title></head><body>"
        "<div class='clock'><span class='time'>Thứ hai, 20/7/2026 09:25:27</span></div>"
        "<span class='date'>Thứ hai, 20/7/2026, 06:33 (GMT+7)</span><h1>Tiêu đề bài viết ở đây</h1>"
        f"<article>{body_paragraphs()}</article>"
        "<div class='other'><p class='time-ago'>19/7/2026 10:00</p></div></body></html>"
    )
    doc, _ = extract(html)
    assert doc.metadata["created"] == "2026-07-20T06:33:00+07:00"  # the zone the page states


def test_author_repeated_twice_is_given_once():
    html = page(
        f"<article><h1>Tiêu đề bài</h1>{body_paragraphs()}</article>",
        head="<meta name='author' content='ĐAN THUẦN ĐAN THUẦN'>",
    )
    doc, _ = extract(html)
    assert doc.metadata["author"] == "ĐAN THUẦN"


def test_lead_already_inside_a_longer_line_is_not_added_again():
    lead = "Năm nay thành phố thu ngân sách vượt dự toán, nhiều công trình trọng điểm hoàn thành trước hạn."
    html = page(
        f"<div class='top'><h1>Tiêu đề</h1></div><article><p><span class='sapo'>{lead}</span> "
        f"{SENTENCES[0]}</p>{body_paragraphs()}</article>"
    )
    doc, step = extract(html)
    assert doc.text.count(lead) == 1 and step.stats.counters["lead_restored"] == 0


@pytest.mark.parametrize(
    "head,url,walked",
    [
        (jsonld("NewsArticle"), "https://tin.example.vn/", False),  # the page says article
        ("", "https://tin.example.vn/kinh-te/ngan-sach-tang-manh-123456.html", False),  # an article URL
        (og("article"), "https://tin.example.vn/kinh-te/", True),  # a section URL: the structure decides
    ],
)
def test_page_type_walks_the_page_only_when_the_markup_leaves_a_doubt(monkeypatch, head, url, walked):
    # a page that says it is an article, or has an article's URL, is never dropped: the walk costs ~1 ms
    from pipeline.s2_extract import page_type

    calls = []
    real = page_type.structure
    monkeypatch.setattr(page_type, "structure", lambda *a: calls.append(1) or real(*a))
    tree = lxml_html.fromstring(page(f"<article>{body_paragraphs()}</article>", head=head))
    kind = page_type.classify(tree, url, ExtractHtml.defaults)
    assert kind.article and bool(calls) == walked
