"""Paragraphs that trafilatura loses or mangles: photo captions, the lead (sapo), layout tables, table rows.

- Captions: trafilatura drops every <figure> and every element whose class says "caption" or "slide",
  so a photo caption never reaches its output. Each caption (figcaption, the `captions` selectors of
  config/sites.yaml) is noted with its neighbours in document order, and after extraction put back once,
  as its own paragraph, next to a neighbour that was kept. A caption whose neighbours were all left out
  (a sidebar photo) stays out. Alt text is an attribute: it never becomes a paragraph.
- The lead: the first element matching the `leads` selectors (`.sapo`, `.description`, `.lead`…) that is
  not a teaser summary (no headline link in its box), or the visible element holding the page's meta
  description, becomes the first paragraph when the extraction missed it (it often sits outside the
  article container).
- One-column tables (a boxed paragraph, a quote box, an image with its caption) are layout: they become
  <div>/<p> in the tree before trafilatura, so they come out as paragraphs, not Markdown rows.
- Data tables keep one line per row with the cells separated by " | " (no Markdown pipes around, no
  `|---|` rule line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

_CELLS = ("td", "th")
_BLOCK_CHILDREN = {
    "p",
    "div",
    "ul",
    "ol",
    "table",
    "blockquote",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "section",
    "figure",
    "dl",
    "pre",
}
_TABLE_ROW = re.compile(r"^\|(.*)\|$")
_TABLE_RULE = re.compile(r"^\|(?:\s*:?-{3,}:?\s*\|)+$")
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def _text(el) -> str:
    return " ".join(el.text_content().split())


def key(text: str) -> str:
    """Text compared without its spacing (inline markup moves spaces around)."""
    return "".join(text.split())


@dataclass
class Caption:
    text: str
    before: list[str]  # keys of the paragraphs/captions before it, nearest first
    after: list[str]  # … and after it


@dataclass
class PageExtras:
    captions: list[Caption] = field(default_factory=list)
    lead: str | None = None
    blocks: dict[str, str] = field(
        default_factory=dict
    )  # key -> text of every paragraph and caption, in order
    layout_tables: int = 0


def layout_tables_to_paragraphs(tree) -> int:
    """One-column tables become <div> rows of <p>/<div> cells (in place). Returns how many tables."""
    n = 0
    for table in reversed(list(tree.iter("table"))):  # inner tables first
        rows = [r for r in table.iter("tr") if _owner_table(r) is table]
        # cells with content: an empty spacer column does not make a second column
        if not rows or any(
            sum(1 for c in r if c.tag in _CELLS and (len(c) or (c.text or "").strip())) > 1 for r in rows
        ):
            continue
        for el in list(table.iter()):
            if el is not table and _owner_table(el) is not table:
                continue  # inside a nested table, already handled
            if el.tag in _CELLS:
                el.tag = "div" if any(c.tag in _BLOCK_CHILDREN for c in el) else "p"
            elif el.tag in ("tr", "tbody", "thead", "tfoot", "table"):
                el.tag = "div"
            elif el.tag == "caption":
                el.tag = "p"
        n += 1
    return n


def _owner_table(el):
    return next(el.iterancestors("table"), None)


def _has_headline_link(box, min_words: int) -> bool:
    return any(len(a.text_content().split()) >= min_words for a in box.iter("a"))


class SelectorSet:
    """A list of SelectorRule as one test: simple selectors by lookup (built once), the others by XPath."""

    def __init__(self, rules):
        from pipeline.s2_extract.site_rules import Matcher  # here: site_rules imports this module's users

        self.matcher = Matcher.of(rules)
        self.xpaths = [rule.xpath for rule in rules if rule.xpath is not None]

    def test(self, tree):
        """el -> bool on `tree`."""
        if (
            not self.matcher.by_class
            and not self.matcher.by_tag
            and not self.matcher.by_id
            and not self.matcher.by_attr
            and not self.xpaths
        ):
            return lambda el: False
        by_xpath = {el for xpath in self.xpaths for el in xpath(tree)}
        if not self.matcher.may_match(tree):
            return by_xpath.__contains__  # no Python call per element (most pages have no lead class)
        match = self.matcher.match
        return lambda el: el in by_xpath or match(el) is not None


_VI_LETTERS = re.compile("[đĐưƯơƠăĂ]")


def page_language(tree) -> str | None:
    """Primary language subtag the page declares (<html lang>, Content-Language, og:locale), lower case."""
    for xpath in (
        "string(/html/@lang)",
        'string(//meta[@http-equiv="content-language"]/@content)',
        'string(//meta[@property="og:locale"]/@content)',
    ):
        value = tree.xpath(xpath).strip().lower()
        if value:
            return re.split(r"[-_,; ]", value)[0] or None
    return None


def is_vietnamese(tree) -> bool:
    """The page says lang=vi, or says nothing and its title has Vietnamese letters."""
    language = page_language(tree)
    if language is None:
        return bool(_VI_LETTERS.search(tree.findtext(".//title") or ""))
    return language == "vi"


def captions_wanted(tree, languages: list[str], sample: str = "") -> bool:
    """Whether captions count as article text on this page: `languages` lists language codes ("*": any)
    matched against the page's declared language; an undeclared page counts as Vietnamese when `sample`
    (e.g. the title) has Vietnamese letters."""
    if "*" in languages:
        return True
    language = page_language(tree)
    if language is None:
        return "vi" in languages and bool(_VI_LETTERS.search(sample))
    return language in languages


# markup written into a meta description as text ("<p>The early 1970s…</p>": a CMS copying the lead's HTML)
_TAG = re.compile(r"</?[a-zA-Z][^<>]{0,200}>")


def meta_description(tree) -> str | None:
    """The page's meta description (og:description as a fallback), tags written into it left out."""
    for xpath in (
        'string(//meta[@name="description"]/@content)',
        'string(//meta[@property="og:description"]/@content)',
    ):
        text = tree.xpath(xpath)
        if "<" in text:
            text = _TAG.sub(" ", text)
        text = " ".join(text.split())
        if text:
            return text
    return None


def find_extras(
    tree, caption_match, lead_match, description: str | None, min_teaser_words: int = 5
) -> PageExtras:
    """Captions with their neighbours, and the lead, in one walk over the (pruned) tree.

    `caption_match` / `lead_match`: el -> bool (see SelectorSet.test); `description`: the page's meta description.
    """
    extras = PageExtras()
    items: list[str] = []  # keys of paragraphs and captions in document order
    pending: list[tuple[Caption, int]] = []  # captions waiting for the items after them
    seen: set[str] = set()
    lead_candidates = []
    meta_key = key(description) if description and len(description) >= 40 else None
    meta_hit = None
    for el in tree.iter(etree.Element):
        tag = el.tag
        is_caption = caption_match(el)
        if tag == "p" or is_caption:
            if tag != "p" and any(a.tag == "p" or caption_match(a) for a in el.iterancestors()):
                continue  # a caption inside a paragraph or another caption: counted with it
            text = _text(el)
            if not text:
                continue
            k = key(text)
            if is_caption and k not in seen:
                seen.add(k)
                caption = Caption(text, items[::-1][:3], [])
                extras.captions.append(caption)
                pending.append((caption, len(items)))
            items.append(k)
            extras.blocks.setdefault(k, text)
            if meta_key and meta_hit is None and k == meta_key:
                meta_hit = text
        if lead_match(el):
            lead_candidates.append(el)
        elif (
            meta_key
            and meta_hit is None
            and tag in ("h2", "div", "span", "strong", "b")
            and len(el) <= 3
            and key(el.text or (el[0].text if len(el) else "") or "")[:12] == meta_key[:12]
        ):
            text = _text(el)  # (the cheap prefix test above spares a text_content of every div)
            if key(text) == meta_key:
                meta_hit = text
    for caption, at in pending:
        caption.after = items[at + 1 : at + 4]
    extras.lead = _pick_lead(lead_candidates, min_teaser_words) or meta_hit
    return extras


def _pick_lead(candidates: list, min_teaser_words: int) -> str | None:
    """The text of the first lead candidate that is lead-sized and not a teaser's summary."""
    for el in candidates:
        text = _text(el)
        if not 40 <= len(text) <= 1500 or any(a.tag == "a" for a in el.iterancestors()):
            continue
        box = el.getparent()
        if (
            box is not None
            and _has_headline_link(box, min_teaser_words)
            and len(_text(box)) <= len(text) + 300
        ):
            continue  # a teaser's summary next to its headline link, in a box holding little else
        return text
    return None


def split_collapsed(lines: list[str], blocks: dict[str, str], min_chars: int = 200) -> tuple[list[str], int]:
    """A line that is several of the page's paragraphs run together (trafilatura's fallback extractors
    flatten a photo story into one line, title included) becomes those paragraphs, in page order; what
    is left over (the title, a credit) goes with the split."""
    out, n = [], 0
    for line in lines:
        k = key(line)
        if len(k) >= min_chars:
            parts = [(kb, text) for kb, text in blocks.items() if 20 <= len(kb) < len(k) and kb in k]
            if len(parts) >= 2 and sum(len(kb) for kb, _ in parts) >= 0.8 * len(k):
                out.extend(sorted((text for kb, text in parts), key=lambda t: k.find(key(t))))
                n += 1
                continue
        out.append(line)
    return out, n


def restore(lines: list[str], extras: PageExtras) -> tuple[list[str], dict[str, int]]:
    """`lines` with collapsed paragraphs split, the lead first and the captions next to a kept neighbour.
    Returns (lines, counts)."""
    lines, n_split = split_collapsed(lines, extras.blocks)
    keys = [key(line) for line in lines]
    counts: dict[str, int] = {"collapsed_split": n_split} if n_split else {}
    lead = extras.lead or ""
    lead_key = key(lead) if lead else ""
    if lead_key and not any(lead_key in kl or (len(kl) >= 30 and kl in lead_key) for kl in keys):
        lines.insert(0, lead)
        keys.insert(0, lead_key)
        counts["lead_restored"] = 1
    for caption in extras.captions:
        k = key(caption.text)
        if k in keys or any(len(kl) >= 30 and (kl in k or k in kl) for kl in keys):
            continue  # already there (kept once), or a caption repeating the article's own sentences
        where = None
        for neighbour in caption.before:
            if neighbour in keys:
                where = keys.index(neighbour) + 1
                break
        if where is None:
            for neighbour in caption.after:
                if neighbour in keys:
                    where = keys.index(neighbour)
                    break
        if where is None:
            continue  # neither neighbour kept: a caption outside the article
        lines.insert(where, caption.text)
        keys.insert(where, k)
        counts["caption_restored"] = counts.get("caption_restored", 0) + 1
    return lines, counts


def table_rows(lines: list[str]) -> tuple[list[str], int]:
    """Markdown table rows as plain lines: cells separated by " | ", the |---| rule dropped."""
    out, n = [], 0
    for line in lines:
        stripped = line.strip()
        if _TABLE_RULE.match(stripped):
            n += 1
            continue
        m = _TABLE_ROW.match(stripped)
        if m:
            cells = [c.strip() for c in _UNESCAPED_PIPE.split(m.group(1))]
            cells = [c.replace("\\|", "|") for c in cells if c]
            if not cells:
                continue
            line = " | ".join(cells)
            n += 1
        out.append(line)
    return out, n
