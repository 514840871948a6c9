"""Widget selectors for HTML pre-cleaning (config/sites.yaml): load, validate, compile, prune.

Selectors are CSS, compiled once to XPath with cssselect (the lxml tree is the one
trafilatura reads next, so the page is parsed once). Each rule name gets one XPath
union of its selectors, so a page costs one query per rule name, not per selector.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from cssselect import HTMLTranslator, SelectorError
from lxml import etree

from pipeline.config import ConfigError, LocatedDict, LocatedList, load_yaml

_TRANSLATOR = HTMLTranslator()
# containers that are the page or the article itself: a generic rule never removes them
_NEVER_GENERIC = {"html", "body", "main", "article"}
_TOP_KEYS = {"max_text_share", "generic", "sites"}
_SITE_KEYS = {"domains", "keep", "drop"}


@dataclass
class SelectorRule:
    name: str  # rule name counted in the step stats, e.g. "related_box"
    source: str  # "config/sites.yaml:12" (its first selector)
    xpath: etree.XPath
    trusted: bool  # site rules are trusted; generic ones pass the guards first


@dataclass
class SiteRules:
    max_text_share: float
    generic: list[SelectorRule]
    sites: dict[str, tuple[list[SelectorRule], etree.XPath | None]] = field(default_factory=dict)  # domain -> (drop, keep)

    def for_domain(self, domain: str | None) -> tuple[list[SelectorRule], etree.XPath | None]:
        """Site rules of `domain` or of a parent domain (m.vnexpress.net -> vnexpress.net)."""
        parts = (domain or "").lower().removeprefix("www.").split(".")
        for i in range(len(parts) - 1):
            hit = self.sites.get(".".join(parts[i:]))
            if hit:
                return hit
        return [], None


def _selectors(value, where: str) -> tuple[etree.XPath, str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(s, str) and s.strip() for s in value):
        raise ConfigError(f"{where}: expected a non-empty list of CSS selectors")
    paths = []
    for i, css in enumerate(value):
        loc = value.where(i) if isinstance(value, LocatedList) else where
        try:
            paths.append(_TRANSLATOR.css_to_xpath(css))
        except SelectorError as exc:
            raise ConfigError(f"{loc}: bad CSS selector {css!r}: {exc}") from None
    first = value.where(0) if isinstance(value, LocatedList) else where
    return etree.XPath(" | ".join(paths)), first


def _rules(mapping, where: str, trusted: bool) -> list[SelectorRule]:
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where}: expected a mapping of rule name -> selectors")
    rules = []
    for name, value in mapping.items():
        loc = mapping.where(name) if isinstance(mapping, LocatedDict) else where
        xpath, source = _selectors(value, f"{loc}: {name}")
        rules.append(SelectorRule(str(name), source, xpath, trusted))
    return rules


@functools.lru_cache(maxsize=8)
def load_site_rules(path: str) -> SiteRules:
    """Parse and validate a sites file; errors name the file and line."""
    data = load_yaml(Path(path))
    if not isinstance(data, LocatedDict):
        raise ConfigError(f"{path}: expected a mapping with 'generic' and 'sites'")
    for key in data:
        if key not in _TOP_KEYS:
            raise ConfigError(f"{data.where(key)}: unknown key {key!r} (known: {', '.join(sorted(_TOP_KEYS))})")
    share = data.get("max_text_share", 0.4)
    if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0 < share <= 1:
        raise ConfigError(f"{data.where('max_text_share')}: max_text_share: expected a number in (0, 1]")
    rules = SiteRules(float(share), _rules(data.get("generic") or LocatedDict(), data.where("generic"), False))
    sites = data.get("sites") or []
    if not isinstance(sites, list):
        raise ConfigError(f"{data.where('sites')}: sites: expected a list")
    for i, site in enumerate(sites):
        loc = sites.where(i) if isinstance(sites, LocatedList) else path
        if not isinstance(site, dict):
            raise ConfigError(f"{loc}: a site entry must be a mapping with domains, keep, drop")
        unknown = set(site) - _SITE_KEYS
        if unknown:
            raise ConfigError(f"{loc}: unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(_SITE_KEYS))})")
        domains = site.get("domains")
        if not isinstance(domains, list) or not domains or not all(isinstance(d, str) for d in domains):
            raise ConfigError(f"{loc}: domains: expected a list of domain names")
        drop = _rules(site.get("drop") or LocatedDict(), f"{loc}: drop", True)
        keep = _selectors(site["keep"], f"{loc}: keep")[0] if site.get("keep") else None
        for domain in domains:
            rules.sites[domain.lower().removeprefix("www.")] = (drop, keep)
    return rules


def _paragraph_chars(el) -> int:
    # text in <p>: a cheap measure of article prose (scripts and menus left out)
    return sum(len(t) for t in el.xpath(".//p//text()"))


def prune(tree, rules: SiteRules, domain: str | None) -> tuple[dict[str, int], dict[str, int]]:
    """Remove widget blocks from `tree` in place. Returns (removed by rule, kept by a guard by rule)."""
    site_drop, keep = rules.for_domain(domain)
    protected: set = set()  # keep elements and their ancestors: generic rules leave them alone
    if keep is not None:
        for el in keep(tree):
            protected.add(el)
            protected.update(el.iterancestors())
    removed: dict[str, int] = {}
    guarded: dict[str, int] = {}
    gone: set = set()
    page_chars = None
    for rule in site_drop + rules.generic:  # site rules first: they are the precise ones
        for el in rule.xpath(tree):
            if el in gone or any(a in gone for a in el.iterancestors()):
                continue  # inside a block already removed
            if not rule.trusted:
                if el in protected or el.tag in _NEVER_GENERIC or el.find(".//article") is not None \
                        or el.find(".//main") is not None:
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
            el.drop_tree()  # keeps the element's tail text (it belongs to the parent)
            removed[rule.name] = removed.get(rule.name, 0) + 1
    return removed, guarded
