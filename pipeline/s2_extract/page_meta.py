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
    META_URL,
    examine_meta,
    extract_author,
    extract_catstags,
    extract_meta_json,
    extract_sitename,
    extract_title,
    extract_url,
)
from trafilatura.settings import set_date_params
from trafilatura.utils import line_processing

# dateparser's most used languages (the head of its own `language_order`): every date string of the 495
# extraction benchmark pages that dateparser reads is read in one of them
DATE_LANGUAGES = [
    *("en", "ru", "es", "fr", "de", "ja", "tr", "pt", "fa", "it", "zh", "nl", "vi", "pl", "ar"),
    *("ko", "cs", "id", "uk", "el", "he", "th", "sv", "ro", "hu", "da", "fi", "sk", "bg", "nb"),
]


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


def check_date_languages(languages: list[str]) -> str | None:
    """A one-line problem with a `date_languages` list (a language dateparser does not know), or None."""
    from dateparser.data.languages_info import language_order

    unknown = [lang for lang in languages if lang != "*" and lang not in language_order]
    return f"date_languages: unknown to dateparser: {', '.join(unknown)}" if unknown else None


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
        meta.author = extract_author(tree)
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
