"""trafilatura's extraction in fast mode, then in full mode only when the fast result looks weak, sharing
the work both modes do alike.

`ExtractHtml` runs trafilatura's main extractor alone first (`bare_extraction(fast=True)`) and its
fallback extractors (readability, jusText) only when that result looks weak: 139 of the 495 benchmark
pages. Two `bare_extraction` calls repeat, for those pages, what both modes compute the same way: the tree
copy, the raw-tree prunes, the cleaned and converted tree (`_prepare_tree`) and the page text that the
recall escalation measures the result against (`html2txt`, ~8 ms on such a page). `fast_then_full` runs
trafilatura's cascade (`core.trafilatura_sequence`) once up to the point where the modes part, then each
mode's stages on their own copy: the same texts as the two calls, ~10 ms less on a weak page. It also
works on the caller's tree instead of a copy of it (~1 ms a page): `ExtractHtml` reads the tree first.

It repeats trafilatura's cascade, so it is used only with the trafilatura version it was checked
against (`CHECKED_VERSION`; tests/test_cascade.py compares both ways on pages) and with comments off
(with comments on, the cascade captures them and handles forum threads: two plain calls then). Any other
setup makes the two plain calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from copy import copy
from dataclasses import dataclass, field
from typing import Any

import trafilatura
from trafilatura import core
from trafilatura.baseline import _BLOCK_ELEMS as BLOCK_ELEMENTS
from trafilatura.settings import Extractor
from trafilatura.xpaths import TEASER_DISCARD_XPATH

CHECKED_VERSION = "2.3.1"


def shared_cascade_usable(include_comments: bool) -> bool:
    """Whether `fast_then_full` may stand in for the two `bare_extraction` calls."""
    return trafilatura.__version__ == CHECKED_VERSION and not include_comments


def fast_then_full(
    tree, url: str | None, settings: dict, weak: Callable[[str], bool]
) -> tuple[str | None, bool]:
    """(text, whether the full mode ran): the text of `bare_extraction(tree, fast=True, **settings)`, or of
    `bare_extraction(tree, fast=False, **settings)` when `weak(fast text)`; None where that call gives None.
    `settings`: url-free keywords of `Extractor` (`precision`, `recall`, `tables`; comments off).
    `tree` is worked on in place (pruned), where bare_extraction copies it first: pass a copy to keep it."""
    fast_options = Extractor(output_format="python", fast=True, comments=False, url=url, **settings)
    try:
        tree, cleaned, backup = _shared_start(tree, fast_options, url)
    except (TypeError, ValueError):  # bare_extraction's own "no result"; the full call fails the same way
        return None, weak("")
    # the main extractor differs between the modes only where its wild-text recovery meets teaser blocks
    # (kept in fast mode); without any, its fast result serves the full mode and consumes `cleaned` itself
    page = _Page(tree, backup, url, share_main=not _has_teasers(cleaned))
    try:
        text = _finish(cleaned if page.share_main else copy(cleaned), page, fast_options)
    except (TypeError, ValueError):
        text = None  # no fast result: weak as an empty text is
    if not weak((text or "").strip()):
        return text, False
    if page.share_main and page.main is None:
        return None, True  # the main extractor failed: it fails the same way in full mode
    full_options = Extractor(output_format="python", fast=False, comments=False, url=url, **settings)
    try:
        return _finish(cleaned, page, full_options), True
    except (TypeError, ValueError):
        return None, True


@dataclass
class _Page:
    """What the two modes share: the pruned raw tree, the cleaned tree before conversion (`backup`, consumed
    in full mode), the page text's lengths (`memo`), and the main extractor's result (`main`: its body, a
    copy, and text) where `share_main` says it is the same in both modes."""

    tree: Any
    backup: Any
    url: str | None
    share_main: bool
    memo: dict[str, float] = field(default_factory=dict)
    main: tuple[Any, str] | None = None


def _has_teasers(cleaned) -> bool:
    """Whether trafilatura's TEASER_DISCARD_XPATH selects anything. Its elements have "teaser" or "Teaser" in
    their class or id (it tests them through translate(…, 'T', 't')); most pages have neither, and looking
    for "easer" in each element's class and id costs half of the XPath's translate() on every element."""
    if not any(
        "easer" in (el.get("class") or "") or "easer" in (el.get("id") or "") for el in cleaned.iter()
    ):
        return False
    return any(expression(cleaned) for expression in TEASER_DISCARD_XPATH)


def _shared_start(tree, options: Extractor, url: str | None):
    """Cascade stages shared by both modes (trafilatura_sequence up to `_prepare_tree`, comments off):
    (raw tree pruned, cleaned and converted tree, its pre-conversion backup)."""
    is_forum = core._forum_thread_page(tree)
    tree = core.prune_unwanted_nodes(tree, core.RAW_TREE_PRUNE_XPATH)
    if options.focus == "precision" or not is_forum:
        tree = core.prune_unwanted_nodes(tree, core.REMOVE_COMMENTS_AND_LISTS_XPATH)
    cleaned, backup = core._prepare_tree(tree, options, url)
    if options.focus == "precision" and not is_forum:
        cleaned = core.prune_unwanted_nodes(cleaned, core.REMOVE_COMMENTS_XPATH)
    return tree, cleaned, backup


def _finish(cleaned, page: _Page, options: Extractor) -> str | None:
    """One mode's cascade stages on the shared start (`cleaned` is consumed, `page.backup` too in full mode),
    then bare_extraction's size check and text."""
    tree, url = page.tree, page.url
    postbody, text = _extract_and_compare(cleaned, page, options)
    # 3. rescue: baseline on the original tree, accepted only if it adds text
    if len(text) < options.min_extracted_size and options.focus != "precision":
        b_body, b_text, b_len = core.baseline(tree)
        if b_len > len(text):
            postbody, text = b_body, b_text
    # 4. recall escalation: a short result covering little of the page is retried in recall mode
    if options.focus == "balanced" and 0 < len(text) < core.ESCALATION_MAX_LENGTH:
        if _covers_little(len(text), tree, page.memo):
            postbody, text = _escalate(tree, options, url, postbody, text)
    if len(text) < options.min_output_size and 0 < options.min_output_comm_size:
        return None  # no comments: their length is 0
    return core.xmltotxt(postbody, options.formatting)


def _extract_and_compare(cleaned, page: _Page, options: Extractor):
    """trafilatura's `_extract_and_compare` (stages 1-2: the main extractor, then in full mode the comparison
    with readability and jusText), the main extractor's result kept from the fast mode where it is shared."""
    if page.main is not None and not options.fast:
        postbody, text = page.main
    else:
        postbody, text = core.extract_content(cleaned, options)
        if page.share_main:
            page.main = copy(postbody), text  # a copy: the fast mode's later stages get the body itself
    if not options.fast:
        postbody, text = core.compare_extraction(page.backup, copy(page.tree), postbody, text, options)
    return postbody, text


def _covers_little(length: int, tree, memo: dict[str, float]) -> bool:
    """trafilatura's escalation test, `length < ESCALATION_PAGE_SHARE * len(html2txt(tree))`. The page text
    (a copy of the page cleaned by an XPath with a regex call on every element: ~3.5 ms) is built only when
    `page_text_bound` leaves the answer open: on 183 of the 228 benchmark pages that reach the test, the
    bound already shows the result covers enough of the page. `memo` keeps both lengths across modes."""
    share = core.ESCALATION_PAGE_SHARE
    if "bound" not in memo:
        memo["bound"] = page_text_bound(tree)
    if length >= share * memo["bound"]:
        return False
    if "page" not in memo:
        memo["page"] = len(core.html2txt(tree))
    return length < share * memo["page"]


# what trafilatura's html2txt always removes (its BASIC_CLEAN_XPATH's tag tests; the class/id tests remove
# more, which only lowers the page text) and the elements it puts spaces around (`baseline._BLOCK_ELEMS`)
_ALWAYS_CLEANED = ("aside", "fencedframe", "footer", "script", "style", "svg", "template")
_BLOCK_ELEMS = tuple(sorted(BLOCK_ELEMENTS))


def page_text_bound(tree) -> float:
    """An upper bound of `len(html2txt(tree))` from the text as it stands (no copy, no cleaning).

    html2txt takes <body>, removes elements (a removed element's tail stays), puts a space at the start of
    each block element's text and tail, and joins the words by single spaces: its length is its
    non-space characters plus its words minus one. Removing text removes its non-space characters and
    leaves at most as many words, minus the inner words of each removed run (all but its first and last,
    which may join text outside it); each inserted space splits at most one word."""
    body = tree.find(".//body")
    if body is None:
        return math.inf  # html2txt takes the element itself or gives ""; measure it
    words = body.text_content().split()
    chars, n_words = sum(map(len, words)), len(words)
    for element in body.iter(*_ALWAYS_CLEANED):
        if next(element.iterancestors(*_ALWAYS_CLEANED), None) is not None:
            continue  # counted with the outer removed element
        removed = element.text_content().split()
        chars -= sum(map(len, removed))
        n_words -= max(0, len(removed) - 2)
    n_blocks = sum(1 for _ in body.iter(*_BLOCK_ELEMS))
    return chars + n_words + 2 * n_blocks


def _escalate(tree, options: Extractor, url: str | None, postbody, text: str):
    """trafilatura_sequence's stage 4 with comments off: the recall retry, and jusText in full mode."""
    r_options = copy(options)
    r_options.focus = "recall"
    r_text = j_text = ""
    try:
        r_body, r_text = core._recall_retry(tree, r_options, url)
    except Exception:  # as trafilatura: a failed retry leaves the result as it is
        r_text = ""
    if not options.fast:
        try:
            j_body, j_text = core.justext_rescue(copy(tree), options)
        except Exception:
            j_text = ""
    if len(j_text) > len(r_text) and len(j_text) > core.ESCALATION_JUSTEXT_RATIO * len(text):
        return j_body, j_text
    if len(r_text) >= options.min_extracted_size and len(r_text) > core.ESCALATION_ACCEPT_RATIO * len(text):
        return r_body, r_text
    return postbody, text
