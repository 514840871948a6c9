"""`cascade.fast_then_full` gives the texts of trafilatura's two plain calls (fast, then full on a weak
result) while sharing the work both modes do alike; the step falls back to the plain calls elsewhere."""

from __future__ import annotations

import gzip
from copy import copy

import lxml.html
import pytest
import trafilatura
from clean_helpers import SHARED
from test_extract_html import ENGLISH, extract, page, paragraphs
from trafilatura import bare_extraction

from pipeline.s1_read.decode import declared_charset, decode_bytes
from pipeline.s2_extract import cascade
from pipeline.s2_extract.html import parse_html

EXTRACTION_PAGES = SHARED / "bench" / "extraction" / "pages"

pytestmark = pytest.mark.skipif(
    trafilatura.__version__ != cascade.CHECKED_VERSION,
    reason=f"the shared cascade is checked against trafilatura {cascade.CHECKED_VERSION} only",
)

TEASERS = "".join(
    f"<div class='teaser'><a href='/n/{i}'>{s}</a><span>{s} {s}</span></div>"
    for i, s in enumerate(ENGLISH * 3)
)
PAGES = {
    "long article": page(f"<article>{paragraphs(ENGLISH)}{paragraphs(ENGLISH)}</article>"),
    "short article": page(f"<article><p>{ENGLISH[0]}</p><p>{ENGLISH[1]}</p></article>"),
    # a short main text on a page with much more text around it: trafilatura's recall escalation
    "short text on a long page": page(f"<article><p>{ENGLISH[0]} {ENGLISH[1]}</p></article>{TEASERS * 4}"),
    "nothing": page("<div><a href='/'>Home</a></div>"),
}


def plain_calls(tree, url, weak, **settings) -> tuple[str | None, bool]:
    """What the step did before: bare_extraction fast, then full when the fast text is weak."""
    keywords = {"include_comments": False, "with_metadata": False, **settings}
    fast = bare_extraction(tree, url=url, fast=True, **keywords)
    text = fast.text if fast is not None else None
    if not weak((text or "").strip()):
        return text, False
    full = bare_extraction(tree, url=url, fast=False, **keywords)
    return (full.text if full is not None else None), True


def by_length(limit: int):
    return lambda text: len(text) < limit


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize(
    "settings",
    [{}, {"favor_precision": True}, {"favor_recall": True}, {"include_tables": False}],
    ids=["balanced", "precision", "recall", "no tables"],
)
def test_same_text_as_the_two_plain_calls(name, settings):
    tree = parse_html(PAGES[name])
    shared = {"precision": "favor_precision", "recall": "favor_recall", "tables": "include_tables"}
    ours = {key: settings[plain] for key, plain in shared.items() if plain in settings}
    for limit in (0, 2000, 10**6):  # never weak, weak when short, always weak
        expected = plain_calls(tree, "https://www.example.com/news/a", by_length(limit), **settings)
        assert (
            cascade.fast_then_full(copy(tree), "https://www.example.com/news/a", ours, by_length(limit))
            == expected
        )


def test_the_tree_is_worked_on_in_place():
    # with comments off, trafilatura prunes comment sections from the page's tree before anything else
    html = page(f"<article>{paragraphs(ENGLISH)}</article><div id='comments'><p>{ENGLISH[1]}</p></div>")
    tree = parse_html(html)
    assert tree.find(".//div[@id='comments']") is not None
    cascade.fast_then_full(tree, None, {}, by_length(0))
    assert tree.find(".//div[@id='comments']") is None


def test_the_full_mode_runs_only_for_a_weak_fast_text():
    tree = parse_html(PAGES["long article"])
    seen = []
    text, full = cascade.fast_then_full(copy(tree), None, {}, lambda t: seen.append(t) or False)
    assert not full and text is not None and ENGLISH[0] in text and seen == [text.strip()]
    text, full = cascade.fast_then_full(tree, None, {}, lambda t: True)
    assert full and ENGLISH[0] in text


def test_the_step_makes_the_plain_calls_with_another_trafilatura_or_comments_on(monkeypatch):
    monkeypatch.setattr(cascade, "fast_then_full", lambda *a: pytest.fail("shared cascade used"))
    doc, _ = extract(PAGES["short article"], options={"include_comments": True})
    assert ENGLISH[0] in doc.text
    monkeypatch.setattr(trafilatura, "__version__", "9.9.9")
    doc, step = extract(PAGES["short article"])
    assert ENGLISH[0] in doc.text and step.stats.counters["trafilatura_fallbacks"] == 1


def test_the_step_gives_the_same_text_either_way(monkeypatch):
    for html in PAGES.values():
        shared_doc, shared_step = extract(html)
        monkeypatch.setattr(cascade, "shared_cascade_usable", lambda comments: False)
        plain_doc, plain_step = extract(html)
        monkeypatch.undo()
        assert (shared_doc.text, shared_doc.drop_reason) == (plain_doc.text, plain_doc.drop_reason)
        assert shared_doc.metadata == plain_doc.metadata  # read from the tree before the cascade prunes it
        assert shared_step.stats.counters == plain_step.stats.counters


@pytest.mark.skipif(not EXTRACTION_PAGES.is_dir(), reason="no shared extraction benchmark pages")
def test_same_text_as_the_two_plain_calls_on_real_pages():
    # every 12th of the 495 benchmark pages (about a third of them are weak at 2,000 chars)
    weak_seen = 0
    for path in sorted(EXTRACTION_PAGES.iterdir())[::12]:
        data = gzip.decompress(path.read_bytes())
        tree = parse_html(decode_bytes(data, ["cp1252"], declared_charset(data))[0])
        expected = plain_calls(tree, None, by_length(2000))
        assert cascade.fast_then_full(tree, None, {}, by_length(2000)) == expected, path.name  # tree used up
        weak_seen += expected[1]
    assert weak_seen >= 3


def test_a_failing_fast_mode_is_weak_like_an_empty_text(monkeypatch):
    # bare_extraction gives None when its cascade raises ValueError; the plain path then ran the full mode
    real = cascade.core.xmltotxt
    calls = []

    def first_fails(*args):
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("no result")
        return real(*args)

    monkeypatch.setattr(cascade.core, "xmltotxt", first_fails)  # the fast mode fails after its main extractor
    seen = []
    text, full = cascade.fast_then_full(
        parse_html(PAGES["long article"]), None, {}, lambda t: seen.append(t) or True
    )
    assert full and seen == [""] and ENGLISH[0] in text
    monkeypatch.setattr(cascade, "_shared_start", lambda *a: (_ for _ in ()).throw(ValueError("no tree")))
    assert cascade.fast_then_full(parse_html(PAGES["long article"]), None, {}, lambda t: True) == (None, True)


def test_a_failing_main_extractor_fails_both_modes_without_running_it_again(monkeypatch):
    expected = plain_calls(parse_html(PAGES["long article"]), None, lambda t: True)
    runs = []

    def fails(*args):
        runs.append(1)
        raise ValueError("no result")

    monkeypatch.setattr(cascade.core, "extract_content", fails)
    assert cascade.fast_then_full(parse_html(PAGES["long article"]), None, {}, lambda t: True) == (None, True)
    assert runs == [1]
    assert expected[1]  # (the plain calls, with the real extractor, ran the full mode as well)


def test_the_full_mode_reuses_the_main_extractor_only_without_teaser_blocks(monkeypatch):
    runs = []
    real = cascade.core.extract_content
    # the main extractor's calls (the recall escalation runs it too, in recall mode)
    monkeypatch.setattr(
        cascade.core,
        "extract_content",
        lambda tree, options: runs.append(options.focus) or real(tree, options),
    )
    for name, reused in (
        ("long article", True),
        ("short text on a long page", False),
    ):  # TEASERS: class teaser
        runs.clear()
        cascade.fast_then_full(parse_html(PAGES[name]), None, {}, lambda t: True)
        assert runs.count("balanced") == (1 if reused else 2), name


# pages where html2txt's text and the page's own text differ most: scripts and styles (removed), a removed
# element inside another, minified blocks (html2txt spaces them apart: more words), no <body>
BOUND_PAGES = {
    **PAGES,
    "scripts and nested removals": page(
        "<script>var a = 'many words in a script';</script><style>p { color: red }</style>"
        f"<footer><aside>x y z</aside> footer words</footer>{paragraphs(ENGLISH)}"
    ),
    "minified blocks": "<html><body><div>one<div>two</div>three</div><p>a</p><p>b</p><br>c</body></html>",
    "no body": "<div><p>a fragment</p><p>of text</p></div>",
}


@pytest.mark.parametrize("name", BOUND_PAGES)
def test_page_text_bound_is_at_least_the_page_text(name):
    html = BOUND_PAGES[name]
    tree = lxml.html.fragment_fromstring(html) if name == "no body" else parse_html(html)
    assert cascade.page_text_bound(tree) >= len(trafilatura.html2txt(tree))


def test_the_page_text_is_built_only_when_the_bound_leaves_the_test_open(monkeypatch):
    expected = {name: plain_calls(parse_html(PAGES[name]), None, by_length(2000)) for name in PAGES}
    built = []
    real = cascade.core.html2txt
    monkeypatch.setattr(cascade.core, "html2txt", lambda tree: built.append(1) or real(tree))
    # the short text is a small share of this page: the bound cannot tell, the page text decides
    name = "short text on a long page"
    assert cascade.fast_then_full(parse_html(PAGES[name]), None, {}, by_length(2000)) == expected[name]
    assert built == [1]
    built.clear()
    # most of this page is the article: the bound shows it without the page text
    name = "short article"
    assert cascade.fast_then_full(parse_html(PAGES[name]), None, {}, by_length(2000)) == expected[name]
    assert built == []


@pytest.mark.skipif(not EXTRACTION_PAGES.is_dir(), reason="no shared extraction benchmark pages")
def test_page_text_bound_on_real_pages():
    for path in sorted(EXTRACTION_PAGES.iterdir())[::3]:
        data = gzip.decompress(path.read_bytes())
        tree = parse_html(decode_bytes(data, ["cp1252"], declared_charset(data))[0])
        assert cascade.page_text_bound(tree) >= len(trafilatura.html2txt(tree)), path.name


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<div class='Teaser-box'>x</div>", True),  # trafilatura's XPath reads T as t
        ("<section id='top-teaser'>x</section>", True),
        ("<a class='teaser'>x</a>", False),  # not a tag the XPath takes
        ("<div class='eraser'>x</div>", False),
        ("<div class='story'>x</div>", False),
    ],
)
def test_has_teasers_equals_trafilatura_teaser_xpath(html, expected):
    from trafilatura.xpaths import TEASER_DISCARD_XPATH

    tree = parse_html(f"<html><body>{html}<p>{ENGLISH[0]}</p></body></html>")
    assert cascade._has_teasers(tree) == expected == bool(TEASER_DISCARD_XPATH[0](tree))
