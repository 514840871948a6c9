"""What keeps the HTML path within trafilatura's cost: one parse with a C-level element lookup, page metadata
from only the trafilatura finders the record uses, its fallback extractors only for weak results; and the
extraction benchmark's site halves (`--split`)."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import lxml.html
import pytest
from clean_helpers import SHARED
from lxml import etree
from test_extract_html import ENGLISH, extract, page, paragraphs

from pipeline.config import ConfigError
from pipeline.s2_extract.html import ExtractHtml, parse_html, weak_extraction
from pipeline.s2_extract.page_meta import (
    DATE_LANGUAGES,
    categories,
    find_author,
    may_name_an_author,
    page_meta,
    restrict_date_languages,
)

ROOT = Path(__file__).resolve().parents[1]
DEVPAGES = ROOT / "benchmarks" / "devpages" / "html"
EXTRACTION_PAGES = SHARED / "bench" / "extraction" / "pages"
sys.path.insert(0, str(ROOT / "benchmarks"))

from extraction import site_half, split_gold  # noqa: E402

META_PAGE = (
    "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Budget approved | City News</title>"
    "<meta property='og:title' content='Council approves the budget'>"
    "<meta property='og:site_name' content='City News'>"
    "<meta property='article:published_time' content='2024-03-05T08:30:00+01:00'>"
    "<link rel='canonical' href='https://www.citynews.example/politics/budget-approved'>"
    "</head><body><div class='byline'><a rel='author' href='/a/jane'>Jane Miller</a></div>"
    "<div class='post-meta'><a href='/category/politics/'>Politics</a></div>"
    f"<article>{paragraphs(ENGLISH)}</article></body></html>"
)


def test_page_meta_gives_what_trafilatura_extract_metadata_gives():
    from trafilatura.metadata import extract_metadata

    theirs = extract_metadata(parse_html(META_PAGE))
    ours = page_meta(parse_html(META_PAGE), None, heading=None, shown_date=None)
    assert (ours.title, ours.author, ours.url, ours.date, ours.sitename, ours.categories) == (
        theirs.title,
        theirs.author,
        theirs.url,
        theirs.date,
        theirs.sitename,
        theirs.categories,
    )
    assert ours.author == "Jane Miller" and ours.date == "2024-03-05" and ours.categories == ["Politics"]


def test_page_meta_keeps_trafilatura_order_for_a_one_word_author():
    # a one-word <meta> author is dropped before the JSON-LD is read; a one-word JSON-LD author stays
    ld = '{"@context": "https://schema.org", "@type": "NewsArticle", "author": {"@type": "Person", "name": "BBNTEAM"}}'
    html = META_PAGE.replace("</head>", f"<script type='application/ld+json'>{ld}</script></head>")
    from trafilatura.metadata import extract_metadata

    assert page_meta(parse_html(html), None, None, None).author == extract_metadata(parse_html(html)).author
    assert page_meta(parse_html(html), None, None, None).author == "BBNTEAM"


def test_page_meta_skips_the_searches_the_page_already_answered():
    ours = page_meta(
        parse_html(META_PAGE), None, heading="The h1 headline", shown_date="2024-03-06T07:00:00+07:00"
    )
    assert ours.date is None  # the date shown by the headline wins: htmldate not asked
    assert ours.title == "Council approves the budget"  # a meta title is read anyway (cheap)


def test_parse_html_builds_html_elements_without_a_python_lookup():
    tree = parse_html(META_PAGE)
    assert isinstance(tree, lxml.html.HtmlElement)
    assert all(isinstance(el, lxml.html.HtmlElement) for el in tree.iter(etree.Element))
    # lxml.html's Python lookup would make this a FormElement: one class for all, chosen in C
    form = parse_html(META_PAGE.replace("</body>", "<form><input name='q'></form></body>")).find(".//form")
    assert type(form) is lxml.html.HtmlElement
    assert "Jane Miller" in tree.find(".//div").text_content()
    # a str that declares its encoding (lxml refuses it as str): parsed from its UTF-8 bytes
    declared = "<?xml version='1.0' encoding='utf-8'?>" + META_PAGE.replace("<!DOCTYPE html>", "")
    assert parse_html(declared).findtext(".//title") == "Budget approved | City News"
    assert parse_html("   ") is None


def test_weak_extraction_short_menu_or_one_block():
    prose = "\n".join(ENGLISH * 3)
    assert not weak_extraction(prose, 1000)
    assert weak_extraction(ENGLISH[0], 1000)  # short
    menu = "\n".join(["Home", "World news", "Sport", "Local weather today"] * 60) + "\n" + ENGLISH[0]
    assert weak_extraction(menu, 1000)  # mostly lines of one to three words
    assert weak_extraction(" ".join(ENGLISH * 4) + "\nShare", 1000)  # the paragraphs run into one block
    assert weak_extraction(prose, 1000, page_chars=5 * len(prose))  # a small share of the page's <p> text
    assert not weak_extraction(prose, 1000, page_chars=2 * len(prose))
    # a menu taken in above a long article: a small share of the text, but a dozen short lines in a row
    menu = ["Home", "World news", "", "Sport", "Local weather today", "Culture"] * 2 + ["Login", "Shop"]
    assert weak_extraction("\n".join(menu + ENGLISH * 6), 1000)  # 12 short lines (blank ones aside)
    assert not weak_extraction("\n".join(menu[:-1] + ENGLISH * 6), 1000)  # 11: a short list


def test_a_teaser_list_taken_for_the_article_gets_the_fallbacks():
    # a real 2012 vnexpress page (dev pages): the main extractor alone returns 1.1k chars of related links,
    # a small share of the page's <p> text; the fallbacks find the 4k-char article
    html = gzip.decompress((DEVPAGES / "201_faf47b772972f083.html.gz").read_bytes()).decode("utf-8")
    doc, step = extract(html)
    assert "Ông Phạm Văn Hơn, bán rau cải đối diện tiệm vàng" in doc.text
    assert step.stats.counters["trafilatura_fallbacks"] == 1


def test_fallbacks_run_only_for_a_weak_result():
    long_page = page(f"<article>{paragraphs(ENGLISH)}{paragraphs(ENGLISH)}</article>")
    doc, step = extract(long_page, url="https://www.example.com/news/budget")
    assert ENGLISH[0] in doc.text and "trafilatura_fallbacks" not in step.stats.counters
    doc, step = extract(page(f"<article><p>{ENGLISH[0]}</p><p>{ENGLISH[1]}</p></article>"))
    assert ENGLISH[0] in doc.text and step.stats.counters["trafilatura_fallbacks"] == 1


def test_site_halves_keep_a_site_together_and_cover_the_gold(tmp_path):
    assert site_half("https://www.example.com/a") == site_half("http://example.com/b?x=1")
    urls = [f"https://site{i}.example/page" for i in range(40)]
    assert {site_half(u) for u in urls} == {"A", "B"}
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps({"id": str(i), "url": u}) + "\n" for i, u in enumerate(urls)))
    halves = split_gold(gold, tmp_path)
    ids = {h: [json.loads(x)["id"] for x in p.read_text().splitlines() if x] for h, p in halves.items()}
    assert sorted(ids["A"] + ids["B"], key=int) == [str(i) for i in range(40)]
    assert all(site_half(urls[int(i)]) == half for half in ids for i in ids[half])


def test_date_parser_tries_only_the_listed_languages():
    """htmldate's fallback parser reads a Polish date only when Polish is listed (every language tried would
    compile ~200 languages' regexes on a string none reads: ~1.3 s a process)."""
    from htmldate.extractors import _external_date

    try:
        restrict_date_languages(["en"])
        assert _external_date("16 marca 2021") is None
        restrict_date_languages(["en", "pl"])
        assert str(_external_date("16 marca 2021")) == "2021-03-16 00:00:00"
        restrict_date_languages(DATE_LANGUAGES)  # the default reads it too
        assert str(_external_date("16 marca 2021")) == "2021-03-16 00:00:00"
    finally:
        restrict_date_languages(DATE_LANGUAGES)


def test_unknown_date_language_is_a_config_error():
    with pytest.raises(
        ConfigError, match=r"cfg\.yaml:9: extract_html\.date_languages: unknown to dateparser: xx"
    ):
        ExtractHtml.validate({"date_languages": ["en", "xx"]}, lambda key: "cfg.yaml:9")
    ExtractHtml.validate({"date_languages": ["*"]}, lambda key: "cfg.yaml:9")  # all: htmldate's own parser


@pytest.mark.parametrize(
    "byline",
    [
        "<span class='c-Byline'>Jane Miller</span>",
        "<p id='post-author'>Jane Miller</p>",
        "<div data-component='ArticleByline'>Jane Miller</div>",
        "<span itemprop='author name'>Jane Miller</span>",
        "<author>Jane Miller</author>",
    ],
)
def test_author_search_runs_where_trafilatura_can_find_an_author(byline):
    from trafilatura.metadata import extract_author

    tree = parse_html(f"<html><body>{byline}<article>{paragraphs(ENGLISH)}</article></body></html>")
    assert may_name_an_author(tree)
    assert extract_author(tree) == "Jane Miller" == page_meta(tree, None, None, None).author


def test_author_search_skipped_on_a_page_without_author_markup(monkeypatch):
    from trafilatura.metadata import extract_author

    html = (
        "<html><body><div class='meta-box' id='top'><span class='byword'>Jane Miller</span></div>"
        f"<article class='story'>{paragraphs(ENGLISH)}</article></body></html>"
    )
    tree = parse_html(html)
    assert extract_author(tree) is None  # trafilatura finds none either
    assert not may_name_an_author(tree)
    monkeypatch.setattr("pipeline.s2_extract.page_meta.extract_author", lambda tree: pytest.fail("searched"))
    assert page_meta(tree, None, None, None).author is None


def test_categories_equal_trafilatura_and_skip_its_search_without_a_category_link(monkeypatch):
    from trafilatura.metadata import extract_catstags

    head = "<head><meta property='article:section' content='Politics'></head>"
    linked = parse_html(
        f"<html>{head}<body><div class='entry-meta'><a href='/category/local/'>Local</a></div></body></html>"
    )
    bare = parse_html(
        f"<html>{head}<body><div class='entry-meta'><a href='/tag/x/'>X</a></div></body></html>"
    )
    assert categories(linked) == extract_catstags("category", linked) == ["Local"]
    assert categories(bare) == extract_catstags("category", bare) == ["Politics"]  # the <meta> fallback
    monkeypatch.setattr("pipeline.s2_extract.page_meta.extract_catstags", lambda *a: pytest.fail("searched"))
    assert categories(bare) == ["Politics"]


def test_a_short_result_gets_the_fallbacks_without_counting_the_page_paragraphs(monkeypatch):
    # on the plain path (here: comments on); the shared cascade counts them up front, as it prunes the tree
    monkeypatch.setattr("pipeline.s2_extract.html.paragraph_chars", lambda tree: pytest.fail("counted"))
    short = page(f"<article><p>{ENGLISH[0]}</p><p>{ENGLISH[1]}</p></article>")
    doc, step = extract(short, options={"include_comments": True})
    assert ENGLISH[0] in doc.text and step.stats.counters["trafilatura_fallbacks"] == 1


def test_selector_set_skips_the_per_element_match_only_where_nothing_can_match():
    from pipeline.s2_extract.paragraphs import SelectorSet
    from pipeline.s2_extract.site_rules import load_site_rules

    rules = load_site_rules(str(ROOT / "config" / "sites.yaml"))
    captions, leads = SelectorSet(rules.captions), SelectorSet(rules.leads)
    plain = parse_html(f"<html><body><article class='story'>{paragraphs(ENGLISH)}</article></body></html>")
    assert not captions.matcher.may_match(plain) and not leads.matcher.may_match(plain)
    with_sapo = parse_html(
        "<html><body><h2 class='x  sapo'>Lead</h2><figure><figcaption>C</figcaption></figure>"
    )
    assert leads.matcher.may_match(with_sapo) and captions.matcher.may_match(with_sapo)
    assert leads.test(with_sapo)(with_sapo.find(".//h2"))
    for path in sorted(DEVPAGES.glob("*.html.gz"))[:12]:  # real pages: a page ruled out has no match at all
        tree = parse_html(gzip.decompress(path.read_bytes()).decode("utf-8", "replace"))
        for selectors in (captions, leads):
            if not selectors.matcher.may_match(tree):
                assert all(selectors.matcher.match(el) is None for el in tree.iter(etree.Element)), path.name


# author markup where trafilatura's copy of the page differs: a byline in the comments or a figure (removed
# there), a byline holding a <time> (removed there, its tail joined to the text before it), and both
AUTHOR_PAGES = {
    "plain byline": "<p class='byline'>By Jane Miller</p>",
    "in the comments first": "<div id='comments'><span class='author'>Troll</span></div>"
    "<span class='author'>Jane Miller</span>",
    "in a figure first": "<figure><span class='author'>Photo Agency</span></figure><p class='byline'>Jane</p>",
    "holding a time": "<span class='author'>Jane<time>2024-01-02</time>Miller</span>",
    "none valid": "<span class='author'>J</span><div class='comments'><a rel='author'>Troll</a></div>",
}


@pytest.mark.parametrize("name", AUTHOR_PAGES)
def test_find_author_equals_trafilatura_extract_author(name):
    from trafilatura.metadata import extract_author

    tree = parse_html(
        f"<html><body>{AUTHOR_PAGES[name]}<article>{paragraphs(ENGLISH)}</article></body></html>"
    )
    assert find_author(tree) == extract_author(tree)


def test_find_author_copies_the_page_only_for_a_byline_holding_removed_markup(monkeypatch):
    from trafilatura.metadata import extract_author

    copied = []
    monkeypatch.setattr(
        "pipeline.s2_extract.page_meta.extract_author", lambda tree: copied.append(1) or extract_author(tree)
    )
    for name, html in AUTHOR_PAGES.items():
        find_author(parse_html(f"<html><body>{html}</body></html>"))
        assert len(copied) == (name == "holding a time"), name
        copied.clear()
    # the discarded element's tail joins the text before it in the copy: no space between the names
    assert (
        find_author(parse_html(f"<html><body>{AUTHOR_PAGES['holding a time']}</body></html>")) == "JaneMiller"
    )


@pytest.mark.skipif(not EXTRACTION_PAGES.is_dir(), reason="no shared extraction benchmark pages")
def test_find_author_equals_extract_author_on_real_pages():
    from trafilatura.metadata import extract_author

    from pipeline.s1_read.decode import declared_charset, decode_bytes

    found = 0
    for path in sorted(EXTRACTION_PAGES.iterdir())[::4]:
        data = gzip.decompress(path.read_bytes())
        tree = parse_html(decode_bytes(data, ["cp1252"], declared_charset(data))[0])
        expected = extract_author(tree)
        assert find_author(tree) == expected, path.name
        found += expected is not None
    assert found >= 10
