"""Widget selectors for HTML pre-cleaning (config/sites.yaml): load, validate, compile, prune.

Selectors are CSS, checked with cssselect. Speed: XPath queries per selector cost ~50 ms
on a 130 KB page (each class test scans every element), more than the parse itself, so
simple selectors (`tag`, `.class`, `#id`, `tag[attr=value]`, `tag.class`) go into lookup
tables and the page is walked once; only other selectors run as XPath (one union per
rule name). The lxml tree is the one trafilatura reads next: the page is parsed once.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cssselect import HTMLTranslator, SelectorError
from lxml import etree

from pipeline.config import ConfigError, LocatedDict, LocatedList, load_yaml

_TRANSLATOR = HTMLTranslator()
# containers that are the page or the article itself: a generic rule never removes them
_NEVER_GENERIC = {"html", "body", "main", "article"}
_TOP_KEYS = {"max_text_share", "link_teaser", "generic", "sites", "captions", "leads"}
_LINK_TEASER_KEYS = {"tags": ["p"], "min_link_share": 0.8, "max_label_words": 3, "max_chars": 200}
_SITE_KEYS = {"domains", "keep", "drop"}
# tag, then at most one of .class / #id / [attr=value]
_SIMPLE = re.compile(
    r"""^(?P<tag>[a-zA-Z][a-zA-Z0-9]*)?(?:\.(?P<cls>[\w-]+)|\#(?P<id>[\w-]+)|"""
    r"""\[(?P<attr>[\w-]+)=(?P<q>["']?)(?P<val>[^\]"']+)(?P=q)\])?$"""
)


@dataclass
class SelectorRule:
    name: str  # rule name counted in the step stats, e.g. "related_box"
    source: str  # "config/sites.yaml:12" (its first selector)
    xpath: etree.XPath | None  # the selectors that are not simple (None: all are)
    trusted: bool  # site rules are trusted; generic ones pass the guards first
    order: int = 0  # rules are tried in config order, a site's before the generic ones
    simple: list[tuple[str | None, str, str, str]] = field(default_factory=list)  # (tag, kind, key, value)


@dataclass
class Matcher:
    """Simple selectors of a rule list as lookup tables: one walk over the page finds them all."""

    by_class: dict = field(default_factory=dict)  # token -> [(tag, rule)]
    by_id: dict = field(default_factory=dict)
    by_attr: dict = field(default_factory=dict)  # (attr, value) -> [(tag, rule)]
    by_tag: dict = field(default_factory=dict)  # tag -> [rule]
    attrs: tuple = ()

    @classmethod
    def of(cls, rules: list[SelectorRule]) -> Matcher:
        m = cls()
        for rule in rules:
            for tag, kind, key, value in rule.simple:
                if kind == "class":
                    m.by_class.setdefault(value, []).append((tag, rule))
                elif kind == "id":
                    m.by_id.setdefault(value, []).append((tag, rule))
                elif kind == "attr":
                    m.by_attr.setdefault((key, value), []).append((tag, rule))
                else:
                    m.by_tag.setdefault(tag, []).append(rule)
        m.attrs = tuple(sorted({key for key, _ in m.by_attr}))
        return m

    def match(self, el) -> SelectorRule | None:
        """The first rule (in config order) whose simple selector matches `el`."""
        tag = el.tag
        hits = []
        for rule in self.by_tag.get(tag, ()):
            hits.append(rule)
        get = el.get
        classes = get("class")
        if classes:
            for token in classes.split():
                for want, rule in self.by_class.get(token, ()):
                    if want is None or want == tag:
                        hits.append(rule)
        ident = get("id")
        if ident:
            for want, rule in self.by_id.get(ident.strip(), ()):
                if want is None or want == tag:
                    hits.append(rule)
        for attr in self.attrs:
            value = get(attr)
            if value is not None:
                for want, rule in self.by_attr.get((attr, value.strip()), ()):
                    if want is None or want == tag:
                        hits.append(rule)
        # site rules (trusted) before generic ones, then config order
        return min(hits, key=lambda r: (not r.trusted, r.order)) if hits else None


@dataclass
class SiteRules:
    max_text_share: float
    generic: list[SelectorRule]
    link_teaser: dict | None = None  # see config/sites.yaml; None: off
    captions: list[SelectorRule] = field(default_factory=list)  # photo captions kept as paragraphs
    leads: list[SelectorRule] = field(default_factory=list)  # the lead (sapo) kept as the first paragraph
    sites: dict[str, tuple[list[SelectorRule], etree.XPath | None]] = field(
        default_factory=dict
    )  # domain -> (drop, keep)
    _compiled: dict = field(default_factory=dict)

    def site_of(self, domain: str | None) -> str | None:
        """The configured site `domain` belongs to (m.vnexpress.net -> vnexpress.net), if any."""
        parts = (domain or "").lower().removeprefix("www.").split(".")
        for i in range(len(parts) - 1):
            if ".".join(parts[i:]) in self.sites:
                return ".".join(parts[i:])
        return None

    def for_domain(self, domain: str | None) -> tuple[list[SelectorRule], Matcher, etree.XPath | None]:
        """(rules in the order tried, their simple selectors as a Matcher, the site's keep selector)."""
        site = self.site_of(domain)
        if site not in self._compiled:
            drop, keep = self.sites[site] if site is not None else ([], None)
            rules = drop + self.generic  # site rules first: they are the precise ones
            self._compiled[site] = (rules, Matcher.of(rules), keep)
        return self._compiled[site]


def _selectors(value, where: str, split_simple: bool = False):
    """(XPath of the selectors or None, where the first is defined, simple selectors split out)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(s, str) and s.strip() for s in value):
        raise ConfigError(f"{where}: expected a non-empty list of CSS selectors")
    paths, simple = [], []
    for i, css in enumerate(value):
        loc = value.where(i) if isinstance(value, LocatedList) else where
        try:
            path = _TRANSLATOR.css_to_xpath(css)  # validates the selector even when it is simple
        except SelectorError as exc:
            raise ConfigError(f"{loc}: bad CSS selector {css!r}: {exc}") from None
        m = _SIMPLE.match(css.strip()) if split_simple else None
        if m and (m["tag"] or m["cls"] or m["id"] or m["attr"]):
            tag = m["tag"].lower() if m["tag"] else None
            if m["cls"]:
                simple.append((tag, "class", "class", m["cls"]))
            elif m["id"]:
                simple.append((tag, "id", "id", m["id"]))
            elif m["attr"]:
                simple.append((tag, "attr", m["attr"].lower(), m["val"].strip()))
            else:
                simple.append((tag, "tag", "", ""))
        else:
            paths.append(path)
    first = value.where(0) if isinstance(value, LocatedList) else where
    return (etree.XPath(" | ".join(paths)) if paths else None), first, simple


def _rules(mapping, where: str, trusted: bool) -> list[SelectorRule]:
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where}: expected a mapping of rule name -> selectors")
    rules: list[SelectorRule] = []
    for name, value in mapping.items():
        loc = mapping.where(name) if isinstance(mapping, LocatedDict) else where
        xpath, source, simple = _selectors(value, f"{loc}: {name}", split_simple=True)
        rules.append(SelectorRule(str(name), source, xpath, trusted, order=len(rules), simple=simple))
    return rules


def load_site_rules(path: str) -> SiteRules:
    """Parse and validate a sites file; errors name the file and line. Cached while the file is unchanged."""
    try:
        stat = Path(path).stat()
    except OSError:
        return _load_site_rules(path, None)  # reported as a config error with the path
    return _load_site_rules(path, (stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=8)
def _load_site_rules(path: str, version) -> SiteRules:
    data = load_yaml(Path(path))
    if not isinstance(data, LocatedDict):
        raise ConfigError(f"{path}: expected a mapping with 'generic' and 'sites'")
    for key in data:
        if key not in _TOP_KEYS:
            raise ConfigError(
                f"{data.where(key)}: unknown key {key!r} (known: {', '.join(sorted(_TOP_KEYS))})"
            )
    share = data.get("max_text_share", 0.4)
    if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0 < share <= 1:
        raise ConfigError(f"{data.where('max_text_share')}: max_text_share: expected a number in (0, 1]")
    rules = SiteRules(
        float(share), _rules(data.get("generic") or LocatedDict(), data.where("generic"), False)
    )
    rules.link_teaser = _link_teaser_options(data.get("link_teaser"), data.where("link_teaser"))
    for key in ("captions", "leads"):  # one rule each, named after the key
        if data.get(key) is not None:
            setattr(rules, key, _rules({key: data[key]}, data.where(key), False))
    sites = data.get("sites") or []
    if not isinstance(sites, list):
        raise ConfigError(f"{data.where('sites')}: sites: expected a list")
    for i, site in enumerate(sites):
        loc = sites.where(i) if isinstance(sites, LocatedList) else path
        if not isinstance(site, dict):
            raise ConfigError(f"{loc}: a site entry must be a mapping with domains, keep, drop")
        unknown = set(site) - _SITE_KEYS
        if unknown:
            raise ConfigError(
                f"{loc}: unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(_SITE_KEYS))})"
            )
        domains = site.get("domains")
        if not isinstance(domains, list) or not domains or not all(isinstance(d, str) for d in domains):
            raise ConfigError(f"{loc}: domains: expected a list of domain names")
        drop = _rules(site.get("drop") or LocatedDict(), f"{loc}: drop", True)
        keep = _selectors(site["keep"], f"{loc}: keep")[0] if site.get("keep") else None
        for domain in domains:
            rules.sites[domain.lower().removeprefix("www.")] = (drop, keep)
    return rules


_LINK_TEASER = SelectorRule("link_teaser", "config/sites.yaml: link_teaser", None, trusted=False, order=10**6)


def _link_teaser_options(value, where: str) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: link_teaser: expected a mapping ({', '.join(_LINK_TEASER_KEYS)})")
    options: dict[str, Any] = dict(_LINK_TEASER_KEYS)
    for key, given in value.items():
        loc = value.where(key) if isinstance(value, LocatedDict) else where
        if key not in _LINK_TEASER_KEYS:
            raise ConfigError(
                f"{loc}: link_teaser: unknown key {key!r} (known: {', '.join(_LINK_TEASER_KEYS)})"
            )
        expected = _LINK_TEASER_KEYS[key]
        numeric = isinstance(expected, float) and isinstance(given, int)
        if isinstance(given, bool) or not (isinstance(given, type(expected)) or numeric):
            raise ConfigError(f"{loc}: link_teaser.{key}: expected {type(expected).__name__}")
        options[key] = given
    options["tags"] = frozenset(t.lower() for t in options["tags"])
    return options


def _is_link_teaser(el, opts: dict) -> bool:
    """A short block that is a link to another page with at most a short label ("Read also: <a>…</a>")."""
    text = " ".join(el.text_content().split())
    if not text or len(text) > opts["max_chars"]:
        return False
    links = el.findall(".//a")
    if not links:
        return False
    link_chars = sum(len(" ".join(a.text_content().split())) for a in links)
    if link_chars < opts["min_link_share"] * len(text):
        return False
    return len(text.split()) - sum(len(a.text_content().split()) for a in links) <= opts["max_label_words"]


def drop_link_lists(tree, min_words: int, min_items: int = 2) -> int:
    """Remove lists whose every item is one headline link and nothing else (related-news lists inside
    the article body: "- Ukraine tung video …"). A list of short links (a menu, sources with labels)
    stays. Returns how many lists went."""
    gone = []
    for lst in tree.iter("ul", "ol"):
        items = [li for li in lst if li.tag == "li"]
        if len(items) < min_items or len(items) != len(lst):
            continue
        for li in items:
            links = li.findall(".//a")
            text = " ".join(li.text_content().split())
            if len(links) != 1 or len(text.split()) < min_words:
                break
            if len(" ".join(links[0].text_content().split())) < 0.9 * len(text):
                break
        else:
            gone.append(lst)
    for lst in gone:
        if lst.getparent() is not None:
            lst.drop_tree()
    return len(gone)


def _paragraph_chars(el) -> int:
    # text in <p>: a cheap measure of article prose (scripts and menus left out)
    return sum(len(t) for t in el.xpath(".//p//text()"))


def prune(tree, rules: SiteRules, domain: str | None) -> tuple[dict[str, int], dict[str, int]]:
    """Remove widget blocks from `tree` in place. Returns (removed by rule, kept by a guard by rule)."""
    ordered, matcher, keep = rules.for_domain(domain)
    protected: set = set()  # keep elements and their ancestors: generic rules leave them alone
    if keep is not None:
        for el in keep(tree):
            protected.add(el)
            protected.update(el.iterancestors())
    found = {}  # element -> first rule matching it
    match = matcher.match
    teaser = rules.link_teaser
    for el in tree.iter(etree.Element):  # elements only (no comments / processing instructions)
        rule = match(el)
        if rule is not None:
            found[el] = rule
        elif teaser is not None and el.tag in teaser["tags"] and _is_link_teaser(el, teaser):
            found[el] = _LINK_TEASER
    for rule in ordered:
        if rule.xpath is not None:
            for el in rule.xpath(tree):
                if el not in found or (rule.trusted, -rule.order) > (found[el].trusted, -found[el].order):
                    found[el] = rule
    removed: dict[str, int] = {}
    guarded: dict[str, int] = {}
    gone: set = set()
    page_chars = None
    for el in tree.iter(etree.Element):  # document order: an outer block before the blocks inside it
        rule = found.get(el)
        if rule is None:
            continue
        if any(a in gone for a in el.iterancestors()):
            continue  # inside a block already removed
        if not rule.trusted:
            if (
                el in protected
                or el.tag in _NEVER_GENERIC
                or el.find(".//article") is not None
                or el.find(".//main") is not None
            ):
                guarded[rule.name] = guarded.get(rule.name, 0) + 1
                continue
            if page_chars is None:
                page_chars = _paragraph_chars(tree)
            if page_chars and _paragraph_chars(el) > rules.max_text_share * page_chars:
                guarded[rule.name] = guarded.get(rule.name, 0) + 1
                continue
        if el.getparent() is None:
            continue  # the root
        gone.add(el)
        removed[rule.name] = removed.get(rule.name, 0) + 1
    for el in gone:
        el.drop_tree()  # keeps the element's tail text (it belongs to the parent)
    return removed, guarded
