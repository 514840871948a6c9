"""Page metadata from trafilatura's own finders, only the ones the record uses, each only when needed.

trafilatura's `extract_metadata` costs about a third of its extraction on the benchmark pages: it looks
for tags and a license (not in our record), for a title when the page's one <h1> already gave it, and
runs htmldate's date search when the Vietnamese headline date already gave it. The fields found, and
the order they are tried in, are trafilatura's: the results equal `extract_metadata`'s where we ask.

htmldate hands the date strings its own formats cannot read to dateparser, which tries every one of its
~200 languages on a string no language reads, compiling each language's regexes on first use: ~1.3 s of
CPU per process on the benchmark pages. `restrict_date_languages` limits it to the common ones; a string
read in language X gives the same date as before whenever X is in the list (languages are tried in the
same order, a subsequence of the full one).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from html import unescape

import htmldate.extractors
from htmldate import find_date
from lxml import etree
from trafilatura.metadata import (
    AUTHOR_DISCARD_XPATHS,
    AUTHOR_XPATHS,
    META_URL,
    examine_meta,
    extract_author,
    extract_catstags,
    extract_meta_json,
    extract_sitename,
    extract_title,
    extract_url,
    normalize_authors,
)
from trafilatura.settings import set_date_params
from trafilatura.utils import line_processing, trim

from pipeline.s2_extract.date_languages import DATE_LANGUAGES  # noqa: F401 (was defined here: the tests name it)


def restrict_date_languages(languages: list[str]) -> None:
    """htmldate's fallback date parser (dateparser) tries only `languages` ("*": all, htmldate's own)."""
    if "*" in languages:
        htmldate.extractors.get_external_parser = _htmldate_parser
    else:
        # a plain factory (cached per language list) where htmldate has its lru_cache'd one
        htmldate.extractors.get_external_parser = functools.partial(  # type: ignore[assignment]
            _date_parser, tuple(languages)
        )


_htmldate_parser = htmldate.extractors.get_external_parser


@functools.cache
def _date_parser(languages: tuple[str, ...]):
    """htmldate's own dateparser (its settings), trying `languages` only (in dateparser's order, as with
    all)."""
    parser = _htmldate_parser.__wrapped__()  # a new one: htmldate's is cached
    parser.languages = list(languages)
    return parser


# A substring that any element trafilatura's AUTHOR_XPATHS select has in one of the attributes they test
# (class, id, itemprop, rel, data-testid, data-component; case as there: their re:test is case-sensitive),
# or the element is <author> or has a <rel> child. extract_author copies the whole tree and calls a Python
# regex on every class and id (~6 ms a page); a page without any of these has no author for it to find,
# and this check costs ~0.5 ms (a C-level substring search over the attribute values).
_AUTHOR_HINTS = (
    *("uthor", "byl", "Byl", "BBL", "username", "screenname", "writer", "channel-name", "zuozhe", "bianji"),
    *("xiaobian", "submitted-by", "posted-by", "journalist-name"),
)
_AUTHOR_ATTRIBUTES = etree.XPath(
    "//@class | //@id | //@itemprop | //@rel | //@data-testid | //@data-component", smart_strings=False
)


def may_name_an_author(tree) -> bool:
    """Whether trafilatura's author search can find anything on the page (see _AUTHOR_HINTS)."""
    values = "\n".join(_AUTHOR_ATTRIBUTES(tree))  # no hint holds a newline: none spans two values
    if any(hint in values for hint in _AUTHOR_HINTS):
        return True
    return tree.find(".//author") is not None or tree.find(".//rel") is not None


# trafilatura's AUTHOR_DISCARD_XPATHS (what extract_author prunes from its copy of the page before it looks
# for an author), as checked here, each with its start rewritten to test one element's ancestors or its
# descendants instead of the whole page. Another trafilatura with other expressions: `find_author` falls
# back to extract_author itself.
_DISCARD_CHECKED = (
    """
        .//*[self::a or self::div or self::section or self::span][
        @id='comments' or @class='comments' or @class='title' or @class='date' or
        re:test(@id, '^comments|comment-?list|ProductReviews') or
        re:test(@class, '^[Cc]omments|commentlist|comments-list|sidebar|is-hidden|quote|embedly-instagram|article-(?:share|support)|print|category|meta-date|meta-reviewer') or
        contains(@data-component, 'Figure')]
        """,
    "//time|//figure",
)
_REGEXP_NS = {"re": "http://exslt.org/regular-expressions"}


def _discard_axis(axis: str):
    """The discard expressions rewritten to select along `axis` from an element, or None (not the checked
    ones)."""
    if tuple(x.path for x in AUTHOR_DISCARD_XPATHS) != _DISCARD_CHECKED:
        return None
    rewritten = _DISCARD_CHECKED[0].strip().replace(".//*[", f"{axis}::*[", 1)
    return etree.XPath(f"{rewritten} | {axis}::time | {axis}::figure", namespaces=_REGEXP_NS)


# an element that is, or is inside, a discarded one: not in extract_author's copy
_IN_DISCARDED = _discard_axis("ancestor-or-self")
# an element holding a discarded one: its text in the copy differs (a removed element's tail moves)
_HOLDS_DISCARDED = _discard_axis("descendant")


def find_author(tree) -> str | None:
    """trafilatura's `extract_author(tree)` without its copy of the page (~5 ms a page where it runs).

    extract_author copies the page, removes the AUTHOR_DISCARD_XPATHS elements from the copy (comments,
    sidebars, <time>, <figure>…) and takes the first AUTHOR_XPATHS match with 3-119 characters of text.
    Here the matches are found in the page itself, those inside a removed element skipped: the same
    elements in the same order. A match's text is the same as in the copy unless it holds a removed
    element; for such a match (rare) the copy is made as before."""
    if _IN_DISCARDED is None or _HOLDS_DISCARDED is None or tree.getparent() is not None:
        return extract_author(tree)  # other expressions, or a fragment (the copy's `//` starts lower)
    for expression in AUTHOR_XPATHS:
        for element in expression(tree):
            if _IN_DISCARDED(element):
                continue
            if _HOLDS_DISCARDED(element):
                return extract_author(tree)
            content = trim(" ".join(element.itertext()))
            if content and 2 < len(content) < 120:  # extract_metainfo's test, len_limit=120
                return normalize_authors(None, content)
    return None


_HREFS = etree.XPath("//a/@href", smart_strings=False)
_SECTION_META = etree.XPath(
    './/head//meta[@property="article:section" or contains(@name, "subject")][@content]'
)


def categories(tree) -> list[str]:
    """trafilatura's `extract_catstags("category", tree)`, whose XPaths (a Python regex call on every
    <div>'s class: ~1.5 ms a page) keep only links whose href holds "/categor(y|ies|s)/": without such a
    link on the page it gives its fallback, the section <meta> tags, found here directly."""
    if "/categor" in "\n".join(_HREFS(tree)):
        return extract_catstags("category", tree)
    found = (element.attrib["content"] for element in _SECTION_META(tree))
    return [r for r in dict.fromkeys(line_processing(x) for x in found if x) if r]


@dataclass
class PageMeta:
    title: str | None = None
    author: str | None = None
    url: str | None = None
    date: str | None = None
    sitename: str | None = None
    categories: list[str] = field(default_factory=list)


def page_meta(tree, url: str | None, heading: str | None, shown_date: str | None) -> PageMeta:
    """Metadata of the parsed page (not modified). `heading` (the only <h1>) and `shown_date` (the date by
    the headline), when known, stand in for trafilatura's title and date search."""
    found = examine_meta(tree)  # <meta> tags
    if (
        found.author and " " not in found.author
    ):  # a one-word meta author is a handle or the site (as trafilatura)
        found.author = None
    found = extract_meta_json(tree, found)  # then JSON-LD over them (a one-word author there stays)
    meta = PageMeta(title=found.title, author=found.author, url=found.url, sitename=found.sitename)
    if not meta.title and not heading:
        meta.title = extract_title(tree)
    if not meta.author and may_name_an_author(tree):
        meta.author = find_author(tree)
    meta.url = meta.url or extract_url(tree, url)
    if not shown_date:
        meta.date = find_date(tree, **set_date_params(True), url=meta.url)
    if not meta.sitename:
        meta.sitename = extract_sitename(tree)
    if meta.sitename:
        meta.sitename = meta.sitename.lstrip("@")
        if meta.sitename and "." not in meta.sitename and not meta.sitename[0].isupper():
            meta.sitename = meta.sitename.title()
    elif meta.url and (match := META_URL.match(meta.url)):
        meta.sitename = match[1]
    meta.categories = found.categories or categories(tree)
    for name in ("title", "author", "url", "sitename"):  # trafilatura's clean_and_trim
        value = getattr(meta, name)
        if isinstance(value, str):
            setattr(meta, name, line_processing(unescape(value[:10000])))
    return meta
