"""extract_html: HTML page -> article text and metadata (trafilatura), after removing widget blocks.

The page (already decoded to text by `decode`) is parsed once with lxml; widget blocks
named in config/sites.yaml are removed from that tree (each removal counted by rule
name), and the same tree goes to trafilatura for the main text and metadata. The text
(one paragraph per line, like a page dump) then goes through the same line cleaner as
text dumps, so one set of rules serves both paths.

Outcomes: no article found -> dropped `no_article` (a page, not a failure); HTML that
cannot be parsed -> error record `unparsable`. libxml2 caps nesting depth and does not
expand entities declared in a DOCTYPE, so deep or hostile markup cannot hang the run.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

from pipeline.config import ConfigError, data_file
from pipeline.document import Document
from pipeline.options import Schema, option
from pipeline.s2_extract import paragraphs
from pipeline.s2_extract.date_languages import DATE_LANGUAGES, check_date_languages
from pipeline.s2_extract.page_type import classify
from pipeline.s2_extract.site_rules import drop_link_lists, load_site_rules, prune
from pipeline.s3_clean.dates import has_seconds, has_time, parse_datetime
from pipeline.step import Step

_URL_XPATHS = ('//link[@rel="canonical"]/@href', '//meta[@property="og:url"]/@content')
_BLANK_LINES = re.compile(r"\n\s*\n+")
# "Theo Phạm Trường" (by), "Bài và ảnh: …" as the author field: the name is what follows
_BYLINE_PREFIX = re.compile(r"^\s*(?:theo|bài(?: và ảnh)?:|ảnh:|tác giả:)\s+", re.IGNORECASE)


@functools.cache
def _parser():
    """trafilatura's parser options, but every element an HtmlElement chosen in C: lxml.html's own lookup is
    a Python call per element proxy (4 million on the 495 benchmark pages)."""
    import lxml.html  # with trafilatura: only HTML inputs need it

    parser = lxml.html.HTMLParser(
        collect_ids=False, default_doctype=False, encoding="utf-8", remove_comments=True, remove_pis=True
    )
    parser.set_element_class_lookup(etree.ElementDefaultClassLookup(element=lxml.html.HtmlElement))
    return parser


def parse_html(text: str):
    """The page's tree (trafilatura's load_html on a decoded page, with the faster parser), None if it is not
    HTML (empty, or a dubious start that parses to almost nothing)."""
    from trafilatura.utils import is_dubious_html, repair_faulty_html

    beginning = text[:50].lower()
    text = repair_faulty_html(text, beginning)
    tree = _fromstring(text)
    if tree is None or len(tree) < 1:  # as trafilatura: a second try on the UTF-8 bytes
        tree = _fromstring(text.encode("utf8", "surrogatepass"))
    if tree is None or (is_dubious_html(beginning) and len(tree) < 2):
        return None
    return tree


def _fromstring(html: str | bytes):
    import lxml.html

    try:
        return lxml.html.fromstring(html, parser=_parser())
    except (ValueError, etree.ParserError, etree.XMLSyntaxError):  # ValueError: a str declaring its encoding
        return None


def _text_of(result) -> str:
    return (result.text or "").strip() if result is not None else ""


# a main-extractor result under this share of the page's paragraph text may have taken a teaser list for the
# article (an old vnexpress page: 1.1k chars of related links, the article 4k chars in <p>)
_MIN_PAGE_SHARE = 0.3


# this many non-blank lines of one to three words in a row: a site menu or a category list that the main
# extractor took in with the article (30-60 such lines above a long article on some benchmark pages); a
# data table or an ingredients list rarely runs that long, and for it the fallbacks are only a second opinion
_MENU_RUN = 12


def _has_menu_run(lines: list[str]) -> bool:
    run = 0
    for line in lines:
        words = len(line.split())
        if words:
            run = run + 1 if words < 4 else 0
            if run >= _MENU_RUN:
                return True
    return False


def paragraph_chars(tree) -> int:
    """Characters of text in the page's <p> elements: a cheap measure of its prose."""
    return sum(len(" ".join(p.text_content().split())) for p in tree.iter("p"))


def weak_extraction(text: str, min_chars: int, page_chars: int = 0) -> bool:
    """A main-extractor result to check with the fallbacks: short, a small share of the page's paragraph
    text, mostly lines of one to three words (a menu, a link list), a run of such lines (a menu taken in
    with the article), or one block holding nearly all the text (the page's paragraphs run together)."""
    if len(text) < min_chars or len(text) < _MIN_PAGE_SHARE * page_chars:
        return True
    lines = text.split("\n")
    if sum(len(line) for line in lines if len(line.split()) < 4) > 0.5 * len(text):
        return True
    if _has_menu_run(lines):
        return True
    return len(text) > 2 * min_chars and max(len(line) for line in lines) > 0.8 * len(text)


def _domain(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def page_url(tree) -> str | None:
    """The page's own URL from <link rel=canonical> or og:url (saved pages carry no other)."""
    for xpath in _URL_XPATHS:
        for value in tree.xpath(xpath):
            value = value.strip()
            if value.startswith(("http://", "https://")):
                return value
    return None


def only_h1(tree) -> str | None:
    """The text of the page's one <h1> (10-250 characters), else None (no h1, or several: a listing or a
    site logo in an h1 besides the headline)."""
    found = None
    for h1 in tree.iter("h1"):
        text = " ".join(h1.text_content().split())
        if text:
            if found is not None:
                return None
            found = text
    return found if found and 10 <= len(found) <= 250 else None


_DATE_ATTR = re.compile(r"date|time|publish", re.IGNORECASE)


def shown_date(tree) -> str | None:
    """The publication date-time as the page shows it near the headline: an element whose class or id
    names a date or time (or a <time>), holding a date with hh:mm. Vietnamese pages write it as "Thứ hai,
    20/7/2026, 06:33 (GMT+7)", which htmldate misreads (a wrong day or 1 January). The candidate closest to
    the <h1> wins: a header clock (it has seconds, so it is skipped anyway) or a teaser's date is farther."""
    h1_at, candidates = None, []
    for i, el in enumerate(tree.iter(etree.Element)):
        if el.tag == "h1" and h1_at is None:
            h1_at = i
        if el.tag == "time" or _DATE_ATTR.search(f"{el.get('class') or ''} {el.get('id') or ''}"):
            text = " ".join(el.text_content().split())
            if 8 <= len(text) <= 80 and has_time(text) and not has_seconds(text):
                iso = parse_datetime(text)
                if iso and "T" in iso:
                    candidates.append((i, iso))
    if h1_at is None or not candidates:
        return None
    return min(candidates, key=lambda c: abs(c[0] - h1_at))[1]


class ExtractHtml(Step):
    name = "extract_html"
    pipeline_stage = "extract"
    # set with the first HTML page (`_load_tools`)
    _extract: Callable[..., Any]  # trafilatura's bare_extraction
    _page_meta: Callable[..., Any]
    _cascade: ModuleType

    class Options(Schema):
        sites: str = "sites.yaml"  # widget selectors (generic and per site), relative to the config file
        preclean: bool = True  # false: trafilatura alone on the parsed page (for comparison)
        include_comments: bool = False
        include_tables: bool = True
        favor_precision: bool = False
        favor_recall: bool = False
        fast: bool = False  # trafilatura without its fallback extractors (faster, a little less recall)
        # chars: trafilatura's fallbacks run only when its main extractor found less, a menu or one block
        fallback_below: int = 2000
        # less text than this is a menu or a caption that trafilatura's fallbacks scraped up, not an article
        min_article_chars: int = 50
        # page type before extraction (page_type.py): a home/category/tag/search page is dropped `not_article`
        page_type: bool = True
        min_teaser_words: int = 5  # a link this long is a headline (a teaser)
        min_teasers: int = 10  # this many teasers and no prose block of max_listing_prose chars: a listing
        max_listing_prose: int = 500
        # captions, the lead, one-column tables and table rows as paragraphs (paragraphs.py)
        paragraphs: bool = True
        # pages (by declared language) whose photo captions are article text ("*": all). Vietnamese news
        # gold counts captions as body; the extraction benchmark (trafilatura's gold, mostly German and
        # English) counts them as boilerplate, so other languages keep trafilatura's choice
        caption_languages: list[str] = option(["vi"])
        # lists whose every item is one headline link (related news inside the body), rule `link_list`
        drop_link_lists: bool = True
        # languages htmldate's fallback date parser (dateparser) tries ("*": all ~200, ~1.3 s more CPU per
        # process); a date string in another language gives no date
        date_languages: list[str] = option(list(DATE_LANGUAGES))

    @classmethod
    def validate(cls, options: dict, where) -> None:
        problem = check_date_languages(options["date_languages"])
        if problem:
            raise ConfigError(f"{where('date_languages')}: {cls.name}.{problem}")

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        sites = data_file(self.context.get("config_dir", "."), self.options["sites"])
        self.rules = load_site_rules(str(sites))
        self._captions = paragraphs.SelectorSet(self.rules.captions)
        self._leads = paragraphs.SelectorSet(self.rules.leads)
        self._no_captions = paragraphs.SelectorSet([])
        logging.getLogger("trafilatura").setLevel(
            logging.CRITICAL
        )  # its parse errors become our error records
        self._tools_loaded = False

    def _load_tools(self) -> None:
        """trafilatura, its metadata finders (htmldate, dateparser) and the cascade, imported with the
        first HTML page: ~0.15 s of CPU that a run of text records (page dumps, JSONL text) never needs.
        An attribute set on the step before (a test's stand-in) is kept."""
        from trafilatura import bare_extraction

        from pipeline.s2_extract import cascade  # the module: profile_html.py wraps its function
        from pipeline.s2_extract.page_meta import (
            page_meta,
            restrict_date_languages,
        )  # (profile_html.py wraps it)

        restrict_date_languages(self.options["date_languages"])
        for name, value in (("_extract", bare_extraction), ("_page_meta", page_meta), ("_cascade", cascade)):
            self.__dict__.setdefault(name, value)
        self._tools_loaded = True

    def process(self, doc: Document) -> None:
        if doc.media_type != "html":
            return  # page dumps go straight to the line cleaner
        if not self._tools_loaded:
            self._load_tools()
        tree = parse_html(doc.text) if doc.text.strip() else None
        if tree is None:
            doc.drop(
                self.name,
                "unparsable",
                f"{doc.provenance.get('file', doc.id)}: not parsable as HTML",
                error=True,
            )
            return
        url = doc.metadata.get("url") or page_url(tree)
        opts = self.options
        if opts["page_type"]:
            kind = classify(tree, url, opts)
            if not kind.article:  # dropped before the costly part: pruning and extraction
                doc.drop(self.name, "not_article", f"a listing, not an article: {kind.detail()}")
                return
        heading = only_h1(tree)  # before pruning: a widget rule may hold the page header
        if opts["preclean"]:
            removed, guarded = prune(tree, self.rules, _domain(url))
            for rule, n in removed.items():
                self.stats.counters[f"dropped:{rule}"] += n
                doc.metadata.setdefault("html_removed", {})[rule] = n
            for rule, n in guarded.items():
                self.stats.counters[f"guarded:{rule}"] += n
            if opts["drop_link_lists"]:
                n = drop_link_lists(tree, opts["min_teaser_words"])
                if n:
                    self.stats.counters["dropped:link_list"] += n
                    doc.metadata.setdefault("html_removed", {})["link_list"] = n
        extras = self._page_extras(tree) if opts["paragraphs"] else None
        # all that is read from the tree is read before trafilatura, which then works on the tree itself
        # (no copy of the page: ~1 ms) where it can (`cascade.fast_then_full`)
        vietnamese = paragraphs.is_vietnamese(tree)
        shown = shown_date(tree) if vietnamese else None
        meta = self._page_meta(tree, url, heading, shown)
        text = self._trafilatura(tree, url)
        if len(text) < opts["min_article_chars"]:
            doc.drop(
                self.name,
                "no_article",
                f"no main text on the page ({len(text)} chars extracted, "
                f"min_article_chars={opts['min_article_chars']})",
            )
            return
        if extras is not None:
            text = self._paragraphs(text, extras)
        doc.metadata["n_chars_html"] = len(doc.text)
        doc.text = _BLANK_LINES.sub("\n", text)  # one paragraph per line, as in page dumps
        doc.media_type = "text"
        doc.provenance["extractor"] = "trafilatura"  # dump_metadata: no page header to parse in this text
        doc.metadata["n_chars_raw"] = len(doc.text)  # the report compares cleaned text with this
        self._metadata(doc, meta, url, heading, vietnamese, shown)

    def _trafilatura(self, tree, url: str | None) -> str:
        """trafilatura's main extractor alone first; its fallbacks (readability, jusText: a third of its time)
        only when that result looks weak (`weak_extraction`), where they win back what it missed: on the
        495 benchmark pages the fallbacks change 35 results, and 139 pages look weak. Both runs share the
        work the two modes do alike (`cascade.fast_then_full`) where that is checked to be the same; that
        path modifies `tree` (read everything else from it first)."""
        opts = self.options

        def weak(text: str, page_chars: int | None = None) -> bool:
            # a short result is weak whatever the page holds: the page's <p> text is counted only otherwise
            return len(text) < opts["fallback_below"] or weak_extraction(
                text, opts["fallback_below"], paragraph_chars(tree) if page_chars is None else page_chars
            )

        if not opts["fast"] and self._cascade.shared_cascade_usable(opts["include_comments"]):
            settings = {
                "tables": opts["include_tables"],
                "precision": opts["favor_precision"],
                "recall": opts["favor_recall"],
            }
            page_chars = paragraph_chars(tree)  # now: the cascade prunes the tree
            text, full = self._cascade.fast_then_full(tree, url, settings, lambda t: weak(t, page_chars))
            if full:
                self.stats.counters["trafilatura_fallbacks"] += 1
            return (text or "").strip()
        settings = {
            "url": url,
            "with_metadata": False,  # page_meta: only the fields we use
            "include_comments": opts["include_comments"],
            "include_tables": opts["include_tables"],
            "favor_precision": opts["favor_precision"],
            "favor_recall": opts["favor_recall"],
        }
        text = _text_of(self._extract(tree, fast=True, **settings))
        if opts["fast"] or not weak(text):
            return text
        self.stats.counters["trafilatura_fallbacks"] += 1
        return _text_of(self._extract(tree, fast=False, **settings))

    def _page_extras(self, tree) -> paragraphs.PageExtras:
        """Layout tables made paragraphs in the tree; captions and the lead noted for after extraction."""
        layout_tables = paragraphs.layout_tables_to_paragraphs(tree)  # first: their cells become paragraphs
        if layout_tables:
            self.stats.counters["layout_tables"] += layout_tables
        title = tree.findtext(".//title") or ""
        wanted = paragraphs.captions_wanted(tree, self.options["caption_languages"], title)
        captions = self._captions if wanted else self._no_captions
        extras = paragraphs.find_extras(
            tree,
            captions.test(tree),
            self._leads.test(tree),
            paragraphs.meta_description(tree),
            self.options["min_teaser_words"],
        )
        extras.layout_tables = layout_tables
        return extras

    def _paragraphs(self, text: str, extras: paragraphs.PageExtras) -> str:
        lines, n_rows = paragraphs.table_rows([line for line in text.split("\n") if line.strip()])
        if n_rows:
            self.stats.counters["table_rows"] += n_rows
        lines, counts = paragraphs.restore(lines, extras)
        for name, n in counts.items():
            self.stats.counters[name] += n
        return "\n".join(lines)

    @staticmethod
    def _metadata(
        doc: Document,
        result,
        url: str | None,
        heading: str | None = None,
        vietnamese: bool = False,
        shown: str | None = None,
    ) -> None:
        """Fill fields the reader did not know (a crawl record's own url/title/date win). The title is the
        page's only <h1> when it has one: the headline as shown (on the 495 extraction benchmark pages it
        matches the gold title on 306 of 424 pages against 241 for trafilatura's og:title/<title> choice)."""
        meta = doc.metadata
        author = result.author
        if author and vietnamese:  # (only there: "Theo" is also a German first name)
            author = _BYLINE_PREFIX.sub("", author)
        if author:
            words = author.split()  # "ĐAN THUẦN ĐAN THUẦN": the byline and the meta author joined
            half = len(words) // 2
            if half and len(words) % 2 == 0 and words[:half] == words[half:]:
                author = " ".join(words[:half])
        for key, value in (
            ("title", heading or result.title),
            ("author", author),
            ("sitename", result.sitename),
            ("url", url or result.url),
        ):
            if value and isinstance(value, str) and value.strip() and not meta.get(key):
                meta[key] = value.strip()
        if (shown or result.date) and not meta.get("created"):
            # ISO 8601, like dates found in page dumps; the date shown by the headline first (Vietnamese pages)
            meta["created"] = shown or parse_datetime(result.date)
        categories = [c for c in (result.categories or []) if c]
        if categories:
            meta["categories"] = categories
