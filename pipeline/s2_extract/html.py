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

import logging
import re
from urllib.parse import urlsplit

from pipeline.config import data_file
from pipeline.document import Document
from pipeline.s2_extract.site_rules import load_site_rules, prune
from pipeline.s3_clean.dates import parse_datetime
from pipeline.step import Step

_URL_XPATHS = ('//link[@rel="canonical"]/@href', '//meta[@property="og:url"]/@content')
_BLANK_LINES = re.compile(r"\n\s*\n+")


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


class ExtractHtml(Step):
    name = "extract_html"
    defaults = {
        "sites": "sites.yaml",  # widget selectors (generic and per site), relative to the config file
        "preclean": True,  # false: trafilatura alone on the parsed page (for comparison)
        "include_comments": False,
        "include_tables": True,
        "favor_precision": False,
        "favor_recall": False,
        "fast": False,  # trafilatura without its fallback extractors (faster, a little less recall)
        # less text than this is a menu or a caption that trafilatura's fallbacks scraped up, not an article
        "min_article_chars": 50,
    }

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        sites = data_file(self.context.get("config_dir", "."), self.options["sites"])
        self.rules = load_site_rules(str(sites))
        logging.getLogger("trafilatura").setLevel(logging.CRITICAL)  # its parse errors become our error records
        # imported here: trafilatura is heavy and only HTML inputs need it
        from trafilatura import bare_extraction
        from trafilatura.utils import load_html
        self._extract, self._load_html = bare_extraction, load_html

    def process(self, doc: Document) -> None:
        if doc.media_type != "html":
            return  # page dumps go straight to the line cleaner
        tree = self._load_html(doc.text) if doc.text.strip() else None
        if tree is None:
            doc.drop(self.name, "unparsable", f"{doc.provenance.get('file', doc.id)}: not parsable as HTML",
                     error=True)
            return
        url = doc.metadata.get("url") or page_url(tree)
        if self.options["preclean"]:
            removed, guarded = prune(tree, self.rules, _domain(url))
            for rule, n in removed.items():
                self.stats.counters[f"dropped:{rule}"] += n
                doc.metadata.setdefault("html_removed", {})[rule] = n
            for rule, n in guarded.items():
                self.stats.counters[f"guarded:{rule}"] += n
        opts = self.options
        result = self._extract(tree, url=url, with_metadata=True, include_comments=opts["include_comments"],
                               include_tables=opts["include_tables"], favor_precision=opts["favor_precision"],
                               favor_recall=opts["favor_recall"], fast=opts["fast"])
        text = (result.text or "").strip() if result is not None else ""
        if len(text) < opts["min_article_chars"]:
            doc.drop(self.name, "no_article", f"no main text on the page ({len(text)} chars extracted, "
                                              f"min_article_chars={opts['min_article_chars']})")
            return
        doc.metadata["n_chars_html"] = len(doc.text)
        doc.text = _BLANK_LINES.sub("\n", text)  # one paragraph per line, as in page dumps
        doc.media_type = "text"
        doc.provenance["extractor"] = "trafilatura"  # dump_metadata: no page header to parse in this text
        doc.metadata["n_chars_raw"] = len(doc.text)  # the report compares cleaned text with this
        self._metadata(doc, result, url)

    @staticmethod
    def _metadata(doc: Document, result, url: str | None) -> None:
        """Fill fields the reader did not know (a crawl record's own url/title/date win)."""
        meta = doc.metadata
        for key, value in (("title", result.title), ("author", result.author), ("sitename", result.sitename),
                           ("url", url or result.url)):
            if value and isinstance(value, str) and value.strip() and not meta.get(key):
                meta[key] = value.strip()
        if result.date and not meta.get("created"):
            meta["created"] = parse_datetime(result.date)  # ISO 8601, like dates found in page dumps
        categories = [c for c in (result.categories or []) if c]
        if categories:
            meta["categories"] = categories
