"""article_region: find the article in a full-page dump, drop the page around it.

A page dumped whole (menus, breadcrumbs, widgets, headline lists, footer) holds one
article somewhere in the middle. The line model (`line_model.py`) scores every
non-blank line from features that hold on any site; the article is the segment of
lines with the largest total score above the threshold (a max-sum segment, so a
box of links inside the article does not cut it in two, but a long stretch the
rules removed costs it, and an author's signature ends it), and lines inside it that
the model scores low are removed one by one. The lead cut off under the headline and
photo captions with a credit stay whatever their score. Every removed line says why:
the kind of block it sits in (`menu`, `headline_list`, `outside_article`,
`boilerplate_line`) and the model's score.

The header just above the article (title, section, date, author) and a signature
just below it become metadata. A page with no article-sized segment (a home,
category, tag or video-list page) is dropped as `not_article`.

Text an HTML extractor produced is already the article: the step leaves it alone.
"""

from __future__ import annotations

import re

import numpy as np

from pipeline.document import Document
from pipeline.options import Schema, option
from pipeline.s3_clean.dates import find_date, has_seconds, has_time, is_date_line, parse_datetime
from pipeline.s3_clean.dump_metadata import DumpMetadata
from pipeline.s3_clean.line_features import (
    BASE,
    FEATURES,
    PROSE_CHARS,
    STOP_WORDS,
    densest_window,
    ends_with_full_stop,
    line_features,
)
from pipeline.s3_clean.line_model import MODEL_PATH, load_model
from pipeline.s3_clean.lines import remove_line, split_lines, words
from pipeline.step import Step

_COL = {name: k for k, name in enumerate(BASE)}
_FEATURE_COL = {name: k for k, name in enumerate(FEATURES)}
_CREDIT = re.compile(r"\b(?:ảnh|photo|foto)\s*:", re.IGNORECASE)  # a caption's credit
_FIELDS = re.compile(r"\s*\|\s*")  # "Theo Phạm Trường | 20-07-2026 - 00:15 AM | Thị trường chứng khoán"
_FIRST_PART = re.compile(r"\s*[,|–—]\s*|\s+-\s+")
# a headline that asks or exclaims ("Vì sao Apple bất ngờ cắt quà tặng sinh viên?"): one sentence
_QUESTION_TITLE = re.compile(r"^[^.!?…]{15,250}[?!]$")
# a caption's credit at its end: "... Ảnh: N.C", "(Ảnh: FIFA)", "Video: Đồn biên phòng", "(Ảnh minh hoạ)"
_CAPTION_CREDIT = re.compile(
    r"(?:[(\s.-](?:ảnh|photo|video|clip|đồ\s*h(?:ọa|oạ)|graphics?)\s*:\s*[^:!?]{1,40}|\(ảnh minh h(?:ọa|oạ)\))[).]?$",
    re.IGNORECASE,
)
_BREADCRUMB = re.compile(r"^[^>»›/|]{1,40}(?:\s*[>»›/|]\s*[^>»›/|]{1,40}){1,5}$")
_TOKEN = re.compile(r"\w+")
_QUESTION = re.compile(r"^[^.!?…]{15,250}\?$")  # one sentence that asks
_MIN_VARIANT_WORDS = 8  # shorter captions are a gallery's, not a reworded copy
_NEAR_COPY = 0.7  # share of their words two captions have in common to be one picture's
_NO_HEADER = "the densest article segment has no header"
# a lead's dateline ("VOV.VN - ", "TTO - ", "(Dân trí) - ", "Hà Nội - "): past the article's own lead, a
# paragraph opening with one is another article's summary
_DATELINE = re.compile(r"^\(?[A-ZĐ][\w.]{1,15}(?:\s\w{2,5})?\)?\s[-–—]\s")
# a picture's alt text ("<headline> - Ảnh 3.") run into more text: a card of another article
_ALT_THEN_TEXT = re.compile(r"\s-\s(?:Ảnh|Photo)\s\d+\.\s?\w", re.IGNORECASE)
# a picture's alt text ending in its number on the page ("Messi ảnh 1", "iPad mini - Ảnh 3"), nothing after
_ALT_COUNTER = re.compile(
    r"^[^.!?:;,]*[^\s.!?:;,]\s(?:-\s)?(?:ảnh|hình|photo|image|foto|bild)\s\d{1,2}$", re.IGNORECASE
)


def _doubled(text: str) -> bool:
    """The same text twice on one line ("X. (Ảnh: TTXVN) X. (Ảnh: TTXVN)"): an image's alt text and its
    title rendered together, in a box of other articles' pictures; or, with no space between, an image's
    alt and its <noscript> copy's alt ("Messi ảnh 1Messi ảnh 1"), which prose never is."""
    half = text[: (len(text) - 1) // 2]
    if len(half) >= 20 and text == f"{half} {half}":
        return True
    half = text[: len(text) // 2]
    return len(half) >= 8 and " " in half and text == half + half


def _counted_alt(text: str) -> bool:
    """A picture's alt text numbered by the page ("Messi ảnh 2", "iPad mini - Ảnh 3"): a few words ending
    in "ảnh"/"photo" and a number, without sentence punctuation."""
    return len(text) <= 80 and bool(_ALT_COUNTER.search(text)) and len(text.split()) <= 10


def _card_date(text: str) -> bool:
    """A teaser card's date line: a date with at most a time and an image's file name
    ("02/08/2021 06:19 [gdvn-nguye]"), a few words."""
    return len(text) <= 60 and len(text.split()) <= 4 and find_date(text) is not None


def _headline_like(line: str, row: np.ndarray) -> bool:
    """Shaped like a headline: a few words not ending like a sentence, or one question/exclamation."""
    if row[_COL["prose"]]:
        return False
    return bool(row[_COL["title_like"]]) or bool(_QUESTION_TITLE.match(line.strip()))


def _may_credit(text: str) -> bool:
    """Cheap test before _CAPTION_CREDIT: a credit has a colon ("Ảnh: N.C") or a parenthesis."""
    return ":" in text or "(" in text


def _is_caption(text: str) -> bool:
    """A photo or video caption with its credit ("Di dời tài sản giúp người dân. Ảnh: M.T"), said once."""
    return (
        len(text) <= 300
        and bool(_CAPTION_CREDIT.search(text))
        and len(words(text)) >= 6
        and not _doubled(text)
    )


def _content_bigrams(text: str) -> set[tuple[str, str]]:
    """Pairs of neighbouring words, without number pairs and pairs of two stop words: what a paragraph
    is about ("hoà minzy", "đà lạt")."""
    tokens = _TOKEN.findall(text.casefold())
    return {
        (a, b)
        for a, b in zip(tokens, tokens[1:])
        if not (a in STOP_WORDS and b in STOP_WORDS) and not a.isdigit() and not b.isdigit()
    }


def _content_words(text: str) -> set[str]:
    return {w for w in words(text.casefold()) if len(w) > 1 and w not in STOP_WORDS}


def best_segment(scores: np.ndarray, cut_costs: np.ndarray | None = None) -> tuple[int, int]:
    """[start, end) of the max-sum segment of `scores` (empty when every score is negative);
    `cut_costs[i]` is paid for a segment that runs on from line i - 1 into line i."""
    best, span, run, start = 0.0, (0, 0), 0.0, 0
    for i, s in enumerate(scores):
        if cut_costs is not None and run > 0:
            run -= cut_costs[i]
            if run <= 0:
                run, start = 0.0, i
        run += s
        if run <= 0:
            run, start = 0.0, i + 1
        elif run > best:
            best, span = run, (start, i + 1)
    return span


def _block_kinds(features: np.ndarray) -> list[str]:
    """What each line would go as if it went, by its shape: "menu" (bulleted or numbered),
    "headline_list" (headline-like, not short), or "" (the caller's default for where it stands)."""
    menu = (features[:, _COL["bullet"]] != 0) | (features[:, _COL["numbered"]] != 0)
    headline = (features[:, _COL["title_like"]] != 0) & (features[:, _COL["short"]] == 0)
    return np.where(menu, "menu", np.where(headline, "headline_list", "")).tolist()


class ArticleRegion(Step):
    name = "article_region"
    pipeline_stage = "clean"

    class Options(Schema):
        model: str = ""  # path of a retrained line model; "" = the one shipped in the package
        # P(article line) above which a line counts for the article
        threshold: float = option(0.5, low=0, high=1)
        header_lines: int = 20  # non-blank lines above the article searched for title, date, author
        footer_lines: int = 3  # lines below it searched for a signature
        # prose in the best segment below this: the page has no article (dev pages: articles hold
        # 727+ chars, home/category pages at most 286, one category page 1,053)
        min_article_chars: int = 400
        max_teaser_share: float = 0.5  # more of its prose lines cut short ("…"): a list of teasers
        min_prose_lines: int = 2
        # a segment made of at least min_teaser_pairs headline + summary pairs (the summary sharing
        # words with its headline), holding at least half its prose, whose pairs mostly share no subject
        # with one another (under max_linked_pairs of them do): a home page's block of teasers, not an
        # interview (questions and answers on one subject)
        min_teaser_pairs: int = 3
        max_linked_pairs: float = option(0.5, low=0, high=1)
        # a segment with no header (neither a date above it nor a headline sharing this share of its
        # content words, out of at least 4, with the first paragraphs; a promo box or a widget's text in
        # the footer) gives way to the best headed article segment of the rest of the page, if any
        # (dev articles: 0.5+, all with a date). Never a drop by itself: on pages in other languages
        # (the extraction benchmark's) the Vietnamese date and headline tests miss 49 of 495 headers
        min_title_overlap: float = option(0.2, low=0, high=1)
        # a headless segment with no article elsewhere on the page is dropped (not_article) when it is a
        # box at the page's foot (no more than max_foot_share of the page's lines below it) on a page of
        # headlines (under min_prose_per_headline chars of its prose per headline-like line of 5+ words):
        # a listing's promo or "about us" box under the list and the footer, not an article (which has
        # related lists, comments or a footer below it). The tuoitre category page (LOSO): 0.03 and 20;
        # headless real articles (extraction pages as dumps, articles-30k texts): those at the foot
        # hold 103+ chars per headline, those under 30 have 0.32+ of their page below them
        max_foot_share: float = option(0.1, low=0, high=1)
        min_prose_per_headline: float = 30.0
        min_lines_not_article: int = 40  # a page this long with no article segment is a home/list page
        # a text is taken for a whole page (and cleaned by the model) when, after the rules, it has at
        # least min_page_lines non-blank lines, fewer than max_prose_share of them are prose and at
        # least min_outside_share and min_outside_lines of them lie outside its densest run of prose.
        # Measured: 41 of the 43 dev pages pass (not the two 1-2 line bot-check pages), 0.9% of the
        # articles-30k texts (already articles) do
        min_page_lines: int = 15
        max_prose_share: float = 0.6
        min_outside_share: float = 0.25
        min_outside_lines: int = 12
        # byline / name word lists for the header
        rules: list[str] = option(["rules/vi.yaml", "rules/en.yaml"])
        # the segment pays this per blank line beyond free_gap_lines between two kept lines (lines the
        # rules removed): it does not run across a removed list into the footer
        gap_cost_per_line: float = 0.02
        free_gap_lines: int = 10
        # an author's name on its own line inside the segment ends the article when less than this
        # share of the segment's prose follows it
        max_prose_after_signature: float = option(0.25, low=0, high=1)
        # a prose paragraph printed twice in a row under the headline (photo alt text + caption) stays
        # when the model scores it at least this
        min_photo_text_score: float = option(0.3, low=0, high=1)

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self.model = load_model(self.options["model"] or None)
        self._model_name = self.options["model"] or f"pipeline/s3_clean/{MODEL_PATH.name}"
        self.meta = DumpMetadata({"rules": self.options["rules"]}, context)
        self._titles: dict = {}  # _find_title's answers for the page being done

    def process(self, doc: Document) -> None:
        if doc.provenance.get("extractor"):
            return  # an extractor's text is the article already
        lines = split_lines(doc)
        self._titles = {}
        if not self._may_be_page(lines):
            return  # already article text (a crawl's text field, a cropped dump): the rules clean it
        idx, features = line_features(lines)
        if not self._is_page(features):
            return
        proba = self.model.predict(features)
        threshold = self.options["threshold"]
        span = self._article_segment(doc, lines, idx, features, proba)
        if span is None:
            return  # dropped as not_article, or too small to call it a home or list page
        start, end = span
        end = self._signature_inside(lines, idx, features, start, end)
        doc.provenance["region"] = (idx[start] + 1, idx[end - 1] + 1)
        zone = self._header_zone(features, proba, start, end)
        taken, title_k = self._header(doc, lines, idx, features, zone, start)
        kept = self._lead_and_captions(lines, idx, features, proba, title_k, (start, end))
        photo = self._photo_captions(doc, lines, idx, start if title_k is None else title_k + 1, end)
        kept |= photo
        taken |= {idx[k] for k in photo}  # not a trailing headline either
        cut_cards = self._teaser_cards(features, start, end)
        kept -= cut_cards
        taken |= self._signature(doc, lines, idx, max([end] + [k + 1 for k in kept]))
        trailing = self._trailing_headlines(lines, idx, features, start, end, taken)
        teaser_cards = cut_cards | trailing
        teaser_cards |= self._trailing_cards(lines, idx, features, proba, (start, end), trailing | kept)
        teaser_cards |= self._bulleted_headlines(lines, idx, features, proba, start, end)
        leading = self._leading_widgets(lines, idx, features, start, end)
        alt_variants = self._caption_variants(lines, idx, start, end)
        scores, kinds = proba.tolist(), _block_kinds(features)  # Python floats and str: cheap per line
        for k, i in enumerate(idx):
            if i in taken or not lines[i].strip() or (k in kept and k not in alt_variants):
                continue
            if k in teaser_cards:
                self._remove(doc, lines, i, "headline_list", scores[k])
            elif k in alt_variants:
                self._remove(doc, lines, i, "image_alt", scores[k])
            elif k < start or k >= end or k in leading:
                self._remove(doc, lines, i, kinds[k] or "outside_article", scores[k])
            elif scores[k] < threshold:
                self._remove(doc, lines, i, kinds[k] or "boilerplate_line", scores[k])
            elif _doubled(lines[i].strip()) or _counted_alt(lines[i].strip()):  # an image's alt text
                self._remove(doc, lines, i, "image_alt", scores[k])
        doc.text = "\n".join(lines)

    def _article_segment(self, doc, lines, idx, features, proba) -> tuple[int, int] | None:
        """The article's segment: the best one, or, when that one has no header (a promo box or a
        widget's text in the footer outscoring a short article), the best of the rest of the page if
        that one is an article (with none, the headless one stays, unless it is a box at the foot of a
        page of headlines). None when the page has no article: dropped as `not_article` (too little
        prose, teasers, a foot box), or left to the rules when it is too small to call it a home or
        list page."""
        scores, costs = self._segment_scores(lines, idx, proba), self._gap_costs(idx)
        span = best_segment(scores, costs)
        why = self._why_not_article(lines, idx, features, proba, span)
        if why.startswith(_NO_HEADER):
            scores[span[0] : span[1]] = -1.0  # nothing runs across it
            other = best_segment(scores, costs)
            if not self._why_not_article(lines, idx, features, proba, other):
                return other
            foot_box = self._foot_box(lines, idx, features, proba, span)
            if not foot_box:
                # no headed article elsewhere: the header test knows Vietnamese dates and headlines, and
                # on pages of other languages (the extraction benchmark's) it misses real ones: keep it
                return span
            why = f"{why}; {foot_box}"
        if not why:
            return span
        if len(idx) >= self.options["min_lines_not_article"]:
            doc.drop(self.name, "not_article", f"{why}; {len(idx)} lines on the page")
        return None

    def _segment_scores(self, lines, idx, proba) -> np.ndarray:
        """What each line adds to the article segment: its score over the threshold, but nothing for
        the second copy of a line printed twice in a row (a picture's alt text, then its caption): the
        model marks both copies down as repeats, and a photo between two paragraphs would otherwise
        count twice against the article and cut its end off. (What stays is still decided by each
        line's own score.)"""
        scores = proba - self.options["threshold"]
        texts = [lines[i].strip() for i in idx]
        for k in range(1, len(texts)):
            if scores[k] < 0 and texts[k] == texts[k - 1]:
                scores[k] = 0.0
        return scores

    def _why_not_article(self, lines, idx, features, proba, span) -> str:
        """Why the segment is no article ("" when it is one): too little prose, or mostly summaries
        cut short like teasers; a block of headline + summary pairs on unrelated subjects; no header."""
        start, end = span
        n_prose = int(features[start:end, _COL["prose"]].sum())
        kept_prose = self._kept_prose(features, proba, span)
        kept_chars = sum(len(lines[idx[k]].strip()) for k in kept_prose)
        teasers = sum(features[k, _COL["ellipsis"]] > 0 for k in kept_prose)  # cut summaries "…"
        if (
            kept_chars < self.options["min_article_chars"]
            or n_prose < self.options["min_prose_lines"]
            or teasers > self.options["max_teaser_share"] * len(kept_prose)
        ):
            return (
                f"densest article segment holds {kept_chars} chars of prose in {n_prose} lines, "
                f"{teasers} of them cut short like teasers (min {self.options['min_article_chars']})"
            )
        pairs, linked = self._teaser_pairs(lines, idx, features, proba, span, len(kept_prose))
        if pairs and linked < self.options["max_linked_pairs"] * len(pairs):
            return (
                f"densest article segment is {len(pairs)} headline + summary pairs for "
                f"{len(kept_prose)} prose lines, {linked} of them on a subject another pair shares"
            )
        if 2 * (end - start) < len(idx) and not self._has_header(
            lines, idx, features, proba, span, kept_prose
        ):
            return f"{_NO_HEADER} ({kept_chars} chars of prose): no date, no headline on its subject"
        return ""

    def _foot_box(self, lines, idx, features, proba, span) -> str:
        """Why the (headless) segment is a box at the foot of a page of headlines ("" when it is not):
        little of the page below it, and little prose for the headline-like lines of the page."""
        start, end = span
        below = len(idx) - end
        if below > self.options["max_foot_share"] * len(idx):
            return ""
        kept_chars = sum(len(lines[idx[k]].strip()) for k in self._kept_prose(features, proba, span))
        title_like = (features[:, _COL["title_like"]] > 0) & (features[:, _COL["prose"]] == 0)
        headlines = sum(len(words(lines[idx[k]])) >= 5 for k in np.flatnonzero(title_like).tolist())
        if kept_chars >= self.options["min_prose_per_headline"] * headlines:
            return ""
        return (
            f"a box at the page's foot ({below} lines below it) on a page of {headlines} headlines, "
            f"{kept_chars / max(headlines, 1):.0f} chars of its prose per headline"
        )

    def _kept_prose(self, features, proba, span) -> list[int]:
        """The segment's prose lines the model keeps."""
        start, end = span
        prose = features[start:end, _COL["prose"]] > 0
        keep = proba[start:end] >= self.options["threshold"]
        return [start + int(k) for k in np.flatnonzero(prose & keep)]

    def _header_zone(self, features, proba, start, end) -> list[int]:
        """Where the header is searched: the lines above the segment, and among its first six lines
        the low-scored ones (a date or share bar under the lead) and those above its first paragraph
        (a date and headline the model kept)."""
        zone = list(range(max(0, start - self.options["header_lines"]), start))
        above_lead = True
        for k in range(start, min(end, start + 6)):
            above_lead = above_lead and not features[k, _COL["prose"]]
            if above_lead or proba[k] < self.options["threshold"]:
                zone.append(k)
        return zone

    def _has_header(self, lines, idx, features, proba, span, kept_prose) -> bool:
        """An article has a header: a date above it (or in the segment above its first paragraph: the
        model may keep a date line), or a headline about what its first paragraphs say."""
        start, end = span
        zone = self._header_zone(features, proba, start, end)
        title_k = self._find_title(lines, idx, features, zone, start)
        if title_k is not None:
            body = set().union(*(_content_words(lines[idx[k]]) for k in kept_prose[:3]))
            own = _content_words(lines[idx[title_k]])
            if len(own & body) >= self.options["min_title_overlap"] * max(len(own), 4):
                return True
        above_lead = range(start, kept_prose[0] if kept_prose else start)
        return any(
            len(text) <= 120 and parse_datetime(text)
            for text in (lines[idx[k]].strip() for k in sorted(set(zone).union(above_lead)))
        )

    def _teaser_pairs(self, lines, idx, features, proba, span, n_kept) -> tuple[list[tuple[int, int]], int]:
        """The segment's headline + summary pairs (a headline-like line, or one question or exclamation,
        then a kept prose line sharing a content bigram with it, or with a card's date line between them:
        a dated teaser needs no shared words) when they are a block of teasers: at least
        min_teaser_pairs of them and a summary for every other of the `n_kept` prose lines kept (else
        none); and how many pairs share a subject (two content bigrams) with another pair."""
        start, end = span
        kept = (features[:, _COL["prose"]] > 0) & (proba >= self.options["threshold"])
        summaries = {}  # headline -> its summary, right under it or under a date line
        for k in range(start, end - 1):
            if kept[k + 1]:
                summaries[k] = k + 1
            elif k + 2 < end and kept[k + 2] and _card_date(lines[idx[k + 1]]):
                summaries[k] = k + 2
        candidates = [
            k
            for k in summaries
            if features[k, _COL["title_like"]] or lines[idx[k]].rstrip().endswith(("?", "!"))
        ]
        if len(candidates) < max(self.options["min_teaser_pairs"], n_kept / 2):
            return [], 0  # too few to be a block of teasers: most segments stop here
        pairs: list[tuple[int, int]] = []
        grams: list[set[tuple[str, str]]] = []
        for k in candidates:
            s = summaries[k]
            head, summary = lines[idx[k]].strip(), lines[idx[s]].strip()
            if not (features[k, _COL["title_like"]] or _QUESTION_TITLE.match(head)):
                continue
            head_grams, summary_grams = _content_bigrams(head), _content_bigrams(summary)
            if (s > k + 1 or head_grams & summary_grams) and not (pairs and pairs[-1][1] >= k):
                pairs.append((k, s))
                grams.append(head_grams | summary_grams)
        if len(pairs) < max(self.options["min_teaser_pairs"], n_kept / 2):
            return [], 0
        linked = sum(
            any(len(own & other) >= 2 for m, other in enumerate(grams) if m != j)
            for j, own in enumerate(grams)
        )
        return pairs, linked

    def _gap_costs(self, idx: list[int]) -> np.ndarray:
        """What the article segment pays to run across the blank lines between two kept lines: a
        long stretch the rules removed (a related list under an end marker, a comment thread) parts
        the article from what comes after it (a footer, a second list), which the model, seeing
        only the kept lines, takes for neighbours. A paragraph break (one blank line) or a small box
        removed inside the article costs little."""
        blanks = np.diff(np.asarray(idx), prepend=idx[0] if idx else 0) - 1
        return self.options["gap_cost_per_line"] * np.maximum(blanks - self.options["free_gap_lines"], 0)

    @staticmethod
    def _teaser_cards(features: np.ndarray, start: int, end: int) -> set[int]:
        """Headline + summary cut short ("…") pairs: a card of a list of other articles, wherever it
        stands (an article's own paragraphs are not cut short)."""
        first = max(start, 1)
        if end <= first:
            return set()
        cut = (features[first:end, _COL["ellipsis"]] > 0) & (
            features[first - 1 : end - 1, _COL["title_like"]] > 0
        )
        summaries = (first + np.flatnonzero(cut)).tolist()
        return set(summaries) | {k - 1 for k in summaries}

    def _trailing_headlines(self, lines, idx, features, start, end, taken) -> set[int]:
        """Headline-like lines after the article's last paragraph: the first items of a list of other
        articles (an article ends with a paragraph, a caption or the author's name, not a headline)."""
        trailing = set()
        for k in range(end - 1, start, -1):
            row = features[k]
            if row[_COL["prose"]] or row[_COL["full_stop"]] or idx[k] in taken:
                break
            text = lines[idx[k]].strip()
            if _is_caption(text):
                break  # a photo's caption ("... Ảnh: N.C"): the article's own
            if row[_COL["title_like"]] and len(words(text)) >= 5 and not self.meta.name_in(text):
                trailing.add(k)
            else:
                break
        return trailing

    def _trailing_cards(self, lines, idx, features, proba, span, skip) -> set[int]:
        """Cards of other articles the segment ends with, read from its end up: a headline under
        its own picture's alt text and title (the line above holds it twice), or a headline of
        8+ words over a summary that repeats two of its word pairs and opens with a lead's
        dateline (or the headline runs on from a picture's alt text), or, the segment's last pair, that
        repeats one and has the card's date line under it. Lines in `skip` (trailing headlines, captions) and low-scored
        ones are passed over."""
        start, end = span
        cards: set[int] = set()
        k = end - 1
        while k > start:
            if idx[k] in skip or k in skip or proba[k] < self.options["threshold"]:
                k -= 1
                continue
            text, above = lines[idx[k]].strip(), lines[idx[k - 1]].strip()
            # the segment's last line with a card's date line right under it ("06:36 17/7/2026")
            dated = k == end - 1 and end < len(idx) and _card_date(lines[idx[end]])
            if _doubled(above) and above[: (len(above) - 1) // 2] == text:
                cards |= {k - 1, k}
            elif not (features[k, _COL["prose"]] and self._card_headline(above, features[k - 1])):
                break
            elif not (dated or _DATELINE.match(text) or _ALT_THEN_TEXT.search(above)):
                break  # an article's last subheading and paragraph (they may share words too)
            elif len(_content_bigrams(above) & _content_bigrams(text)) < (1 if dated else 2):
                break
            cards |= {k - 1, k}
            k -= 2
        return cards

    @staticmethod
    def _card_headline(text: str, row: np.ndarray) -> bool:
        headline = row[_COL["title_like"]] or _QUESTION_TITLE.match(text)
        return bool(headline) and len(words(text)) >= 8 and not _is_caption(text)

    def _bulleted_headlines(self, lines, idx, features, proba, start, end) -> set[int]:
        """Runs of two or more bulleted headlines (8+ words, no sentence end or one question, not an
        item of one sentence ending in ";" "," ":") inside the segment, half or more of them scored
        out by the model: a list of related articles set into the text, whose items go together (an
        article's own bulleted list is scored as text; an interview's answer is a sentence)."""
        heads = [
            k
            for k in range(start, end)
            if features[k, _COL["bullet"]]
            and (features[k, _COL["title_like"]] or _QUESTION.match(lines[idx[k]].strip().lstrip("•·-* ")))
            and len(words(lines[idx[k]])) >= 8
            and not lines[idx[k]].rstrip().endswith((";", ",", ":"))
        ]
        out: set[int] = set()
        run: list[int] = []
        for k in [*heads, -2]:  # -2 closes the last run
            if run and k != run[-1] + 1:
                low = sum(proba[j] < self.options["threshold"] for j in run)
                if len(run) >= 2 and 2 * low >= len(run):
                    out.update(run)
                run = []
            run.append(k)
        return out

    @staticmethod
    def _caption_variants(lines, idx, start, end) -> set[int]:
        """A caption followed by a near copy of itself (a picture's alt text, then its caption reworded:
        "... hôm 21/5. Ảnh: US Navy" / "... hồi tháng 5. Ảnh: US Navy"): the first goes."""
        out = set()
        for k in range(start, end - 1):
            first, second = lines[idx[k]].strip(), lines[idx[k + 1]].strip()
            if first == second or not (_may_credit(first) and _may_credit(second)):
                continue
            if not (_is_caption(first) and _is_caption(second)):
                continue
            # what the pictures show, without the credit (one photographer's credit makes a gallery's
            # short captions look alike: "Tàu chuẩn bị rời cảng - Ảnh: X." / "Tàu rời cảng - Ảnh: X.")
            a = set(words(_CAPTION_CREDIT.sub("", first).casefold()))
            b = set(words(_CAPTION_CREDIT.sub("", second).casefold()))
            if min(len(a), len(b)) < _MIN_VARIANT_WORDS or all(w.isdigit() for w in a ^ b):
                continue  # "Kết quả lần 1 ..." / "Kết quả lần 2 ...": two pictures
            if len(a & b) >= _NEAR_COPY * len(a | b):
                out.add(k)
        return out

    @staticmethod
    def _leading_widgets(lines, idx, features, start, end) -> set[int]:
        """Lines above the segment's first paragraph that are no part of an article's opening:
        bulleted headlines (related articles above the lead; not list items that end like a clause or
        a sentence: a crawl text may open with a list) and a short exclamation (a widget's call:
        "Chúc bạn đọc báo vui vẻ!")."""
        out = set()
        for k in range(start, end):
            row = features[k]
            if row[_COL["prose"]]:
                break
            text = lines[idx[k]].rstrip()
            bulleted = row[_COL["bullet"]] or row[_COL["numbered"]]
            if bulleted and row[_COL["title_like"]] and not text.endswith((",", ";", ":", ")")):
                out.add(k)
            elif text.endswith("!"):
                out.add(k)
        return out

    def _may_be_page(self, lines: list[str]) -> bool:
        """_is_page's test on a cheap prose flag, before any feature is computed (most texts of a
        crawl's text field stop here)."""
        texts = list(filter(None, map(str.strip, lines)))  # a dump is mostly blank lines after the rules
        n = len(texts)
        if n < self.options["min_page_lines"]:
            return False
        prose = [len(t) >= PROSE_CHARS and ends_with_full_stop(t) for t in texts]
        start, end = densest_window(prose)
        outside = n - (end - start)
        return (
            outside >= self.options["min_outside_lines"] and outside >= self.options["min_outside_share"] * n
        )

    def _is_page(self, features: np.ndarray) -> bool:
        """A whole page around an article: enough lines, most of them not prose (menus, lists,
        widgets). An article's own text is mostly prose and passes untouched."""
        n = len(features)
        if n < self.options["min_page_lines"]:
            return False
        outside = 1.0 - features[:, _FEATURE_COL["in_dense"]]  # lines outside the densest run of prose
        return (
            features[:, _COL["prose"]].mean() < self.options["max_prose_share"]
            and outside.mean() >= self.options["min_outside_share"]
            and outside.sum() >= self.options["min_outside_lines"]
        )

    # -- why a line goes -----------------------------------------------------------------------

    def _remove(self, doc, lines, i, rule, score):
        remove_line(doc, lines, i, rule, f"{self._model_name} p={score:.2f}")
        self.stats.counters[f"lines_removed.{rule}"] += 1

    def _remove_meta(self, doc, lines, i, rule):
        remove_line(doc, lines, i, rule, f"step {self.name}")
        self.stats.counters[f"lines_removed.{rule}"] += 1

    # -- metadata around the article ------------------------------------------------------------

    def _signature_inside(self, lines, idx, features, start, end) -> int:
        """Where the article ends when its author's signature ("Như Tâm (Theo AFP, Reuters)") stands
        inside the segment, after a paragraph and with little prose left below it (a widget or a
        list of other articles the model took for text): the new end, else `end`."""
        prose_chars = np.where(
            features[start:end, _COL["prose"]] > 0, [len(lines[i]) for i in idx[start:end]], 0
        )
        total = prose_chars.sum()
        for k in range(start + 3, end):
            text = lines[idx[k]].strip()
            if len(text) > 60 or not features[k - 1, _COL["full_stop"]] or not self.meta.name_in(text):
                continue
            following = lines[idx[k + 1]].strip() if k + 1 < end else ""
            if following[:1].islower():
                continue  # "Hiện V.A." + "vẫn đang nằm viện": a sentence broken in two, not a signature
            if prose_chars[k - start + 1 :].sum() < self.options["max_prose_after_signature"] * total:
                return k
        return end

    def _photo_text(self, features, proba, k) -> bool:
        """A paragraph printed twice in a row (a photo's alt text and its caption, as photo essays
        render) that the model, marking down repeats, scores just under the threshold."""
        row = features[k]
        return bool(
            row[_COL["prose"]]
            and row[_COL["repeated_near"]]
            and self.options["min_photo_text_score"] <= proba[k] < self.options["threshold"]
        )

    def _lead_and_captions(self, lines, idx, features, proba, title_k, span) -> set[int]:
        """Lines the segment leaves out or scores low that are the article's all the same: the lead
        (a prose line the model scores high between the headline and the segment, cut off from the
        body by a date or share bar) and captions that credit a photo or video ("... Ảnh: N.C")
        between the headline and the end of the article."""
        threshold = self.options["threshold"]
        start, end = span
        first = start if title_k is None else title_k + 1
        kept = set()
        for k in range(first, end):
            text = lines[idx[k]].strip()
            if k < start and proba[k] >= threshold and features[k, _COL["prose"]]:
                kept.add(k)
            elif proba[k] < threshold and _is_caption(text):
                kept.add(k)
            elif self._photo_text(features, proba, k):
                kept.add(k)
        k = end
        while k < len(idx):  # the last photo's caption, right under the last paragraph
            if _is_caption(lines[idx[k]].strip()):
                kept.add(k)
                k += 1
            else:  # or under its picture's alt text, which opens the caption ("X" x2, "X. Video: Y")
                caption_k = self._past_alt_text(lines, idx, k)
                if caption_k is None:
                    break
                k = caption_k
        return kept

    @staticmethod
    def _past_alt_text(lines, idx, k) -> int | None:
        """Where the caption starts when line k (and its copies right under it) is the alt text of a
        picture or video whose caption repeats it and adds the credit; None when it is not."""
        text = lines[idx[k]].strip()
        j = k + 1
        while j < len(idx) and lines[idx[j]].strip() == text:
            j += 1
        if len(text) < 10 or j == len(idx):
            return None
        caption = lines[idx[j]].strip()
        return j if caption.startswith(text) and _is_caption(caption) else None

    @staticmethod
    def _photo_captions(doc, lines, idx, first, end) -> set[int]:
        """Lines from `first` to `end` that caption one of the article's own pictures without a credit
        of their own: right under the picture's alt text, which the rules removed (`image_alt`) and
        which is the article's headline ("<headline> - Ảnh 2."), or right above the picture's credit,
        which the rules removed (`photo_credit`: "ẢNH: REUTERS"). The model takes such a caption for a
        headline; a card of another article has its own headline as alt text and no credit."""
        title = (doc.metadata.get("title") or "").casefold()
        removed = {r.line_no - 1: r for r in doc.removed}
        marks = {
            i
            for i, r in removed.items()
            if r.rule == "photo_credit"
            or (r.rule == "image_alt" and title and r.text.casefold().startswith(title))
        }
        if not marks:
            return set()
        out = set()
        for k in range(first, end):
            above, below = idx[k] - 1, idx[k] + 1
            while above >= 0 and not lines[above].strip() and above not in removed:
                above -= 1
            while below < len(lines) and not lines[below].strip() and below not in removed:
                below += 1
            if (above in marks and removed[above].rule == "image_alt") or (
                below in marks and removed[below].rule == "photo_credit"
            ):
                out.add(k)
        return out

    def _header(self, doc, lines, idx, features, zone, start) -> tuple[set[int], int | None]:
        """Title, section, date and author from the lines of the header zone; the lines taken and
        the headline's position."""
        meta = doc.metadata
        taken: set[int] = set()
        title_k = self._find_title(lines, idx, features, zone, start)
        if title_k is not None:
            if not meta.get("title"):
                meta["title"] = lines[idx[title_k]].strip()
            self._remove_meta(doc, lines, idx[title_k], "title")
            taken.add(idx[title_k])
        dates = []
        for k in zone:
            i = idx[k]
            text = lines[i].strip()
            if i in taken or len(text) > 120:
                continue
            byline = self.meta._byline(text)
            if byline:
                author, date, section = byline
                dates.append((k, date))
                if author and not meta.get("author"):
                    meta["author"] = author
                if section and not meta.get("section"):
                    meta["section"] = section
                self._remove_meta(doc, lines, i, "byline")
                taken.add(i)
            elif parse_datetime(text) and (
                is_date_line(text) or len(words(text)) <= 12 or any(map(is_date_line, _FIELDS.split(text)))
            ):
                dates.append((k, text))
                # "Thế Duyệt, Đời sống Pháp luật 16/07/2026 16:35": a name before the first separator
                name = self.meta.name_in(_FIRST_PART.split(text, 1)[0]) if not is_date_line(text) else None
                if name and not meta.get("author") and (title_k is None or k > title_k):
                    meta["author"] = name
                self._remove_meta(doc, lines, i, "byline")
                taken.add(i)
            elif title_k is not None and k > title_k and self.meta.name_in(text):
                if not meta.get("author"):
                    meta["author"] = self.meta.name_in(text)
                self._remove_meta(doc, lines, i, "byline")
                taken.add(i)
            elif features[k, _COL["bullet"]] == 0 and (
                _BREADCRUMB.match(text) or (self.meta.rules.is_section(text) and len(words(text)) <= 6)
            ):
                if not meta.get("section") and (title_k is None or k < title_k):
                    crumbs = re.split(r"\s*[>»›/|]\s*", text)
                    meta["section"] = crumbs[-1].strip()
                self._remove_meta(doc, lines, i, "breadcrumb")
                taken.add(i)
        if dates and not meta.get("created"):
            meta["created"] = self._publication_date(dates, title_k)
        return taken, title_k

    def _find_title(self, lines, idx, features, zone, start) -> int | None:
        """The headline above the segment; with none there, a headline-shaped first line of the
        segment (the model kept it) or the line under a kicker. Asked twice per page (the header
        test, then the metadata) for the same zone: the answer is kept for the page being done."""
        key = (start, tuple(zone))
        if key not in self._titles:
            self._titles[key] = self._search_title(lines, idx, features, zone, start)
        return self._titles[key]

    def _search_title(self, lines, idx, features, zone, start) -> int | None:
        title_k = self._title_line(lines, idx, features, [k for k in zone if k < start], start)
        if title_k is not None:
            return title_k
        # the model kept the headline: the segment's first headline-shaped line (after a kicker or a
        # date line) above its first paragraph
        for first in range(start, min(start + 3, len(idx) - 1)):
            if features[first, _COL["prose"]]:
                break
            if (
                _headline_like(lines[idx[first]], features[first])
                and not lines[idx[first]].rstrip().endswith((",", ";"))
                and not lines[idx[first + 1]].strip()[:1].islower()  # a sentence broken in two
            ):
                title_k = self._title_line(lines, idx, features, [first], first + 1)
                if title_k is not None:
                    return title_k
        return None

    def _title_line(self, lines, idx, features, zone, start) -> int | None:
        """The headline: a title-like line above the article that stands as a block of its own
        (blank lines around it) and shares words with the article's first lines; repeated on the
        page (alt text, a second heading) counts for it, bullets, dates and short lines against it."""
        opening = set()
        for k in range(start, min(len(idx), start + 3)):
            opening |= {w for w in words(lines[idx[k]].casefold()) if len(w) > 1}
        best, best_score = None, 0.0
        for k in zone:
            row = features[k]
            text = lines[idx[k]].strip()
            if (  # the tests on the features and the line's ends first: most lines stop here
                not (row[_COL["title_like"]] or _QUESTION_TITLE.match(text))
                or row[_COL["bullet"]]
                or row[_COL["date"]]
                or len(text) < 15
                or text.endswith(":")
            ):
                continue
            n_words = len(words(text))
            if n_words < 4 or self.meta.name_in(text) or parse_datetime(text) or _CREDIT.search(text):
                continue
            own = {w for w in words(text.casefold()) if len(w) > 1}
            # share of the line's words that the lead uses, out of at least 8: a 4-word breadcrumb
            # ("Thể thao World Cup 2026") does not outscore a 16-word headline for 3 common words
            shared = len(own & opening) / max(len(own), 8)
            repeated = row[_COL["repeated"]] > 0 or row[_COL["head_repeat"]] > 0
            block = row[_FEATURE_COL["gap_above"]] + row[_FEATURE_COL["gap_below"]]
            score = (
                1.0
                + 0.6 * min(n_words, 20) / 20
                + 0.4 * repeated
                + 0.25 * block
                + 1.5 * shared
                - 0.03 * (zone[-1] - k)
                - 0.5 * (row[_COL["separator"]] > 0)
            )
            if score > best_score:
                best, best_score = k, score
        return best

    @staticmethod
    def _publication_date(dates, title_k):
        """The date under the title wins; a clock with seconds (the site header) only as a last resort."""
        ranked = sorted(
            dates,
            key=lambda kd: (has_seconds(kd[1]), title_k is not None and kd[0] < title_k, not has_time(kd[1])),
        )
        return parse_datetime(ranked[0][1])

    def _signature(self, doc, lines, idx, end) -> set[int]:
        """An author's name on its own line right under the article (past a card's time line: a related
        article's card ends the body, its date under it, then the signature)."""
        taken: set[int] = set()
        for k in range(end, min(len(idx), end + self.options["footer_lines"])):
            i = idx[k]
            text = lines[i].strip()
            if is_date_line(text):
                continue
            name = self.meta.name_in(text) if len(text) <= 60 else None
            source = self.meta._source(text)
            if source:
                doc.metadata.setdefault("source_attribution", source)
                self._remove_meta(doc, lines, i, "source_attribution")
                taken.add(i)
            elif name:
                if not doc.metadata.get("author"):
                    doc.metadata["author"] = name
                self._remove_meta(doc, lines, i, "author_signature")
                taken.add(i)
                break
            else:
                break
        return taken
