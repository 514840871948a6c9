"""Page type before extraction: is this page an article, or a home / category / tag / search / list page?

Decided from the markup, cheaply (one pass over links and paragraphs, no extraction):

- what the page says it is: `og:type` (article vs website) and JSON-LD `@type` (NewsArticle, Article,
  LiveBlogPosting… vs CollectionPage, ItemList, SearchResultsPage);
- its URL shape: the site's root, a one-word section path (`/kinh-doanh/`), `/tag/…`, `/search?q=…`;
- its structure: teaser links (a headline-long link text) against the largest block of prose (paragraph
  text under one parent, link text left out). A listing is many teasers and no long prose; an article,
  however many sidebars it has, holds one block of prose longer than any teaser summary. Cards whose
  headline is a heading beside a "Read more" link (no headline link at all) count as teasers where
  the prose is short.

Conservative on purpose. A JSON-LD article type (NewsArticle, LiveBlogPosting, ImageGallery…) is never
dropped. Otherwise a page is a listing when
- its URL is a site root, a tag or search page, and it is full of teasers (>= min_teasers headline links
  and no prose block of max_listing_prose chars, or twice min_teasers headline links);
- it does not say og:type=article, gives a listing hint (og:type=website, JSON-LD CollectionPage/ItemList,
  a short section-like path — ignored when the URL looks like an article's: an id, a date, a long slug)
  and is full of teasers (two hints: twice min_teasers headline links are enough);
- its URL does not look like an article's and it holds 2 x min_teasers teaser boxes (headline + summary)
  and no prose block of max_listing_prose chars;
- nothing says article and it is 3 x min_teasers headline links and hardly any prose.
Measured on the 495 extraction-benchmark articles (none dropped) and the HTML dev pages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

ARTICLE_TYPES = {
    "article",
    "newsarticle",
    "reportagenewsarticle",
    "analysisnewsarticle",
    "opinionnewsarticle",
    "reviewnewsarticle",
    "backgroundnewsarticle",
    "askpublicnewsarticle",
    "liveblogposting",
    "blogposting",
    "socialmediaposting",
    "report",
    "scholarlyarticle",
    "techarticle",
    "review",
    "recipe",
    "imagegallery",
    "mediagallery",
    "photograph",  # a photo story is an article
}
LISTING_TYPES = {"collectionpage", "itemlist", "searchresultspage", "profilepage"}
# a path segment that names a listing wherever it stands (/tag/x, /chu-de/x, /search?q=)
_LISTING_SEGMENTS = {
    "tag",
    "tags",
    "topic",
    "topics",
    "category",
    "categories",
    "chu-de",
    "tim-kiem",
    "search",
    "tu-khoa",
    "su-kien",
    "chuyen-muc",
    "archive",
    "archives",
    "author",
    "tac-gia",
    "page",
}
# an id, a date path, or a long slug with a page extension
_ARTICLE_URL = re.compile(r"\d{4,}|/\d{4}/\d{1,2}/|(?:-[^/-]+){3,}\.(?:s?html?|php|aspx?|ghtml|ece)$")
_SEARCH_QUERY = re.compile(r"(?:^|&)(?:q|s|query|search|keywords?|tag|tu-khoa)=", re.I)
_ID_QUERY = re.compile(r"(?:^|&)(?:p|id|newsid|article_?id)=\d+", re.I)
_JSONLD_TYPE = re.compile(r'"@type"\s*:\s*(\[[^\]]*\]|"[^"]*")')


@dataclass
class PageType:
    article: bool
    signals: dict = field(default_factory=dict)  # what was measured, for the drop detail

    def detail(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.signals.items())


def _meta_types(tree) -> tuple[str | None, set[str]]:
    """(og:type, JSON-LD @type values, lower case)."""
    og = tree.xpath('string(//meta[@property="og:type"]/@content)').strip().lower() or None
    types: set[str] = set()
    for script in tree.xpath('//script[@type="application/ld+json"]'):
        text = script.text or ""
        # @type values by regex: JSON-LD in the wild is often invalid JSON, and a regex is cheaper
        for value in _JSONLD_TYPE.findall(text):
            try:
                found = json.loads(value)
            except ValueError:
                continue
            for t in found if isinstance(found, list) else [found]:
                if isinstance(t, str):
                    types.add(t.rsplit("/", 1)[-1].lower())
    return og, types


def url_shape(url: str | None) -> str | None:
    """'home', 'section', 'listing' (tag/search/topic…), 'article' (an id, a date or .html), or None."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    segments = [s for s in parts.path.split("/") if s]
    names = [s.lower().rsplit(".", 1)[0] for s in segments]  # tim-kiem.htm -> tim-kiem
    if segments and segments[-1].lower() in ("index.html", "index.htm", "index.php", "default.aspx"):
        segments.pop()
    if any(s in _LISTING_SEGMENTS for s in names) or _SEARCH_QUERY.search(parts.query):
        return "listing"
    if _ARTICLE_URL.search(parts.path) or _ID_QUERY.search(parts.query):
        return "article"
    if not segments:
        return "home"
    if len(segments) <= 2 and all(len(s) <= 30 and s.count("-") <= 3 for s in segments):
        return "section"
    return None


# elements that start a block of text; text inside any other element belongs to the nearest block around it
_BLOCKS = {
    "p",
    "div",
    "td",
    "th",
    "li",
    "dd",
    "blockquote",
    "section",
    "article",
    "main",
    "body",
    "pre",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "figcaption",
    "header",
    "footer",
    "aside",
    "nav",
    "ul",
    "ol",
    "table",
    "tr",
    "form",
    "center",
    "font",
}
_SKIP = {"script", "style", "noscript", "template", "select", "option", "button", "svg"}


def structure(tree, min_teaser_words: int) -> tuple[int, int, int, int]:
    """(teaser links, heading cards, largest prose block in chars, prose chars in all) of the page.

    A teaser link is a link whose text is headline-long (>= min_teaser_words words); a heading card a
    headline-long heading without a link, in a small box that has one (`heading_cards`). Prose is text
    outside links and headings, counted for its nearest block element; a <p> counts for its parent
    (the article's paragraphs share a parent, a listing's summaries each sit in their own teaser box),
    any other block for itself (old pages write paragraphs as text and <br> in one <div> or <td>).
    One walk over the tree with an explicit stack (no recursion limit on deep markup).
    """
    teasers = 0
    headings: list = []  # headline-long headings outside links: cards' titles, or an article's subheadings
    tally: dict = {}
    stack = [(tree.getroot() if hasattr(tree, "getroot") else tree, None, False)]
    while stack:
        el, block, quiet = stack.pop()
        tag = el.tag if isinstance(el.tag, str) else None
        if tag is None or tag in _SKIP:
            continue
        if tag == "a":
            text = el.text_content()
            if len(text) > 20 and len(text.split()) >= min_teaser_words:
                teasers += 1
            quiet = True  # link text is not prose
        elif tag in _BLOCKS:
            block = el.getparent() if tag == "p" and el.getparent() is not None else el
            heading = tag[0] == "h" and tag[1:].isdigit()
            if heading and not quiet and tag != "h1" and len(el.text_content().split()) >= min_teaser_words:
                headings.append(el)
            quiet = quiet or heading
        if el.text and not quiet:
            n = len(el.text.strip())
            if n:
                tally[block] = tally.get(block, 0) + n
        for child in reversed(el):
            tail = child.tail
            if tail and block is not None:
                n = len(tail.strip())
                if n and not quiet:
                    tally[block] = tally.get(block, 0) + n
            stack.append((child, block, quiet))
    return teasers, heading_cards(headings), max(tally.values(), default=0), sum(tally.values())


def heading_cards(headings: list, max_box_chars: int = 700) -> int:
    """Headings that title a card: a small box (within three levels up, at most max_box_chars of
    text) that holds a link besides the heading ("Read more", a picture's link). A listing whose
    cards carry their headline as a heading, not as a link, is a grid of these; an article's
    subheadings stand in its body (a box far larger) and have no link of their own next to them."""
    n = 0
    sizes: dict = {}  # an article's subheadings share their parent (the body): measured once
    for heading in headings:
        if next(heading.iter("a"), None) is not None:
            continue  # a headline link: counted as a teaser link already
        for box in _small_boxes(heading, max_box_chars, sizes):
            if next(box.iter("a"), None) is not None:
                n += 1
                break
    return n


def teaser_boxes(tree, min_words: int, max_box_chars: int = 700, min_summary_chars: int = 60) -> int:
    """Teaser boxes: a headline link with a summary next to it (a small box, within three levels up,
    holding >= min_summary_chars of text outside links). Home and category pages are grids of them; an
    article's sidebars mostly list bare headlines."""
    n, seen = 0, set()
    sizes: dict = {}
    for a in tree.iter("a"):
        text = a.text_content()
        if len(text) <= 20 or len(text.split()) < min_words:
            continue
        for box in _small_boxes(a, max_box_chars, sizes):
            if box in seen:
                break
            if sizes[box] - sum(_chars(link) for link in box.iter("a")) >= min_summary_chars:
                n += 1
                seen.add(box)
                break
    return n


def _small_boxes(el, max_box_chars: int, sizes: dict) -> Iterator:
    """The boxes around `el`, up to three levels up, while they hold at most max_box_chars of text (a
    card, not the page's body); `sizes` keeps each box's chars for the next element in it."""
    box = el
    for _ in range(3):
        box = box.getparent()
        if box is None:
            return
        if box not in sizes:
            sizes[box] = _chars(box)
        if sizes[box] > max_box_chars:
            return
        yield box


def _chars(el) -> int:
    return len(" ".join(el.text_content().split()))


def classify(tree, url: str | None, opts: dict) -> PageType:
    og, types = _meta_types(tree)
    shape = url_shape(url)
    signals: dict[str, str | int] = {}
    if og:
        signals["og:type"] = og
    if types:
        signals["json-ld"] = ",".join(sorted(types))
    if shape:
        signals["url"] = shape
    if types & ARTICLE_TYPES or shape == "article":
        # the page's own structured data says article, or its URL looks like one (no rule below drops such
        # a page): never dropped, and the walk over the page is not needed
        return PageType(True, signals)
    teasers, cards, prose, total = structure(tree, opts["min_teaser_words"])
    signals["teasers"], signals["largest_prose"] = teasers, prose
    if cards:
        signals["heading_cards"] = cards
    says_article = og == "article"
    # hints of a listing the page gives about itself; an article-shaped URL (an id, a date, a long
    # .html slug) outweighs the weak ones (some sites say og:type=website on every page)
    hints = 0
    if shape != "article":
        hints = (og == "website") + bool(types & LISTING_TYPES) + (shape == "section")
    min_teasers, max_prose = opts["min_teasers"], opts["max_listing_prose"]
    # many teasers, no prose longer than a few summaries. Cards titled by a heading count here only:
    # an article's boxes may put a link beside a heading, so they are no listing when prose is long
    listing = teasers + cards >= min_teasers and prose < max_prose
    many_teasers = teasers >= 2 * min_teasers
    if shape in ("home", "listing") and (listing or many_teasers):
        return PageType(False, signals)  # a site root, a tag or search page full of teasers
    if not says_article and ((hints and listing) or (hints >= 2 and many_teasers)):
        return PageType(False, signals)
    if shape != "article" and teasers >= min_teasers:
        # headline + summary boxes (the costly count, only for pages still in doubt)
        boxes = teaser_boxes(tree, opts["min_teaser_words"])
        signals["teaser_boxes"] = boxes
        if boxes >= 2 * min_teasers and prose < max_prose:
            return PageType(False, signals)
    if not says_article and shape != "article" and teasers >= 3 * min_teasers and prose < max_prose / 2:
        return PageType(False, signals)  # a page of headlines and nothing else
    return PageType(True, signals)
