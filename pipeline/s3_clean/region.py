"""article_region: find the article in a full-page dump, drop the page around it.

A page dumped whole (menus, breadcrumbs, widgets, headline lists, footer) holds one
article somewhere in the middle. The line model (`line_model.py`) scores every
non-blank line from features that hold on any site; the article is the segment of
lines with the largest total score above the threshold (a max-sum segment, so a
box of links inside the article does not cut it in two), and lines inside it that
the model scores low are removed one by one. Every removed line says why: the kind
of block it sits in (`menu`, `headline_list`, `outside_article`, `boilerplate_line`)
and the model's score.

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
from pipeline.s3_clean.dates import has_seconds, has_time, is_date_line, parse_datetime
from pipeline.s3_clean.dump_metadata import DumpMetadata
from pipeline.s3_clean.line_features import (
    _FULL_STOP,
    BASE,
    FEATURES,
    PROSE_CHARS,
    densest_window,
    line_features,
)
from pipeline.s3_clean.line_model import MODEL_PATH, load_model
from pipeline.s3_clean.lines import remove_line, split_lines, words
from pipeline.step import Step

_COL = {name: k for k, name in enumerate(BASE)}
_FEATURE_COL = {name: k for k, name in enumerate(FEATURES)}
_CREDIT = re.compile(r"\b(?:ảnh|photo|foto)\s*:", re.IGNORECASE)  # a caption's credit
_FIRST_PART = re.compile(r"\s*[,|–—]\s*|\s+-\s+")
_BREADCRUMB = re.compile(r"^[^>»›/|]{1,40}(?:\s*[>»›/|]\s*[^>»›/|]{1,40}){1,5}$")


def best_segment(scores: np.ndarray) -> tuple[int, int]:
    """[start, end) of the max-sum segment of `scores` (empty when every score is negative)."""
    best, span, run, start = 0.0, (0, 0), 0.0, 0
    for i, s in enumerate(scores):
        run += s
        if run <= 0:
            run, start = 0.0, i + 1
        elif run > best:
            best, span = run, (start, i + 1)
    return span


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

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self.model = load_model(self.options["model"] or None)
        self._model_name = self.options["model"] or f"pipeline/s3_clean/{MODEL_PATH.name}"
        self.meta = DumpMetadata({"rules": self.options["rules"]}, context)

    def process(self, doc: Document) -> None:
        if doc.provenance.get("extractor"):
            return  # an extractor's text is the article already
        lines = split_lines(doc)
        if not self._may_be_page(lines):
            return  # already article text (a crawl's text field, a cropped dump): the rules clean it
        idx, features = line_features(lines)
        if not self._is_page(features):
            return
        proba = self.model.predict(features)
        threshold = self.options["threshold"]
        start, end = best_segment(proba - threshold)
        prose = features[start:end, _COL["prose"]] > 0
        kept_chars = sum(
            len(lines[idx[k]].strip())
            for k in range(start, end)
            if prose[k - start] and proba[k] >= threshold
        )
        kept_prose = [k for k in range(start, end) if prose[k - start] and proba[k] >= threshold]
        teasers = sum(features[k, _COL["ellipsis"]] > 0 for k in kept_prose)  # cut summaries "…"
        if (
            kept_chars < self.options["min_article_chars"]
            or prose.sum() < self.options["min_prose_lines"]
            or teasers > self.options["max_teaser_share"] * len(kept_prose)
        ):
            if len(idx) < self.options["min_lines_not_article"]:
                return  # too small a page to call it a home or list page: left to the rules
            doc.drop(
                self.name,
                "not_article",
                f"densest article segment holds {kept_chars} chars of prose in {int(prose.sum())} lines, "
                f"{teasers} of them cut short like teasers "
                f"(min {self.options['min_article_chars']}); {len(idx)} lines on the page",
            )
            return
        doc.provenance["region"] = (idx[start] + 1, idx[end - 1] + 1)
        # the header: lines above the article, and the low-scored ones among its first lines
        # (a date or share bar under the lead)
        zone = list(range(max(0, start - self.options["header_lines"]), start))
        zone += [k for k in range(start, min(end, start + 6)) if proba[k] < threshold]
        taken = self._header(doc, lines, idx, features, zone, start)
        taken |= self._signature(doc, lines, idx, end)
        teaser_cards = self._teaser_cards(features, start, end) | self._trailing_headlines(
            lines, idx, features, start, end, taken
        )
        for k, i in enumerate(idx):
            if i in taken or not lines[i].strip():
                continue
            if k in teaser_cards:
                self._remove(doc, lines, i, "headline_list", proba[k])
            elif k < start or k >= end:
                self._remove(doc, lines, i, self._block_kind(features, k, inside=False), proba[k])
            elif proba[k] < threshold:
                self._remove(doc, lines, i, self._block_kind(features, k, inside=True), proba[k])
        doc.text = "\n".join(lines)

    @staticmethod
    def _teaser_cards(features: np.ndarray, start: int, end: int) -> set[int]:
        """Headline + summary cut short ("…") pairs: a card of a list of other articles, wherever it
        stands (an article's own paragraphs are not cut short)."""
        cards = set()
        for k in range(max(start, 1), end):
            if features[k, _COL["ellipsis"]] and features[k - 1, _COL["title_like"]]:
                cards |= {k - 1, k}
        return cards

    def _trailing_headlines(self, lines, idx, features, start, end, taken) -> set[int]:
        """Headline-like lines after the article's last paragraph: the first items of a list of other
        articles (an article ends with a paragraph, a caption or the author's name, not a headline)."""
        trailing = set()
        for k in range(end - 1, start, -1):
            row = features[k]
            if row[_COL["prose"]] or row[_COL["full_stop"]] or idx[k] in taken:
                break
            text = lines[idx[k]].strip()
            if row[_COL["title_like"]] and len(words(text)) >= 5 and not self.meta.name_in(text):
                trailing.add(k)
            else:
                break
        return trailing

    def _may_be_page(self, lines: list[str]) -> bool:
        """_is_page's test on a cheap prose flag, before any feature is computed (most texts of a
        crawl's text field stop here)."""
        texts = [t for t in (line.strip() for line in lines) if t]
        n = len(texts)
        if n < self.options["min_page_lines"]:
            return False
        prose = [len(t) >= PROSE_CHARS and bool(_FULL_STOP.search(t)) for t in texts]
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

    @staticmethod
    def _block_kind(features: np.ndarray, k: int, inside: bool) -> str:
        row = features[k]
        if row[_COL["bullet"]] or row[_COL["numbered"]]:
            return "menu"
        if row[_COL["title_like"]] and not row[_COL["short"]]:
            return "headline_list"
        return "boilerplate_line" if inside else "outside_article"

    def _remove(self, doc, lines, i, rule, score):
        remove_line(doc, lines, i, rule, f"{self._model_name} p={score:.2f}")
        self.stats.counters[f"lines_removed.{rule}"] += 1

    def _remove_meta(self, doc, lines, i, rule):
        remove_line(doc, lines, i, rule, f"step {self.name}")
        self.stats.counters[f"lines_removed.{rule}"] += 1

    # -- metadata around the article ------------------------------------------------------------

    def _header(self, doc, lines, idx, features, zone, start) -> set[int]:
        """Title, section, date and author from the lines of the header zone."""
        meta = doc.metadata
        taken: set[int] = set()
        title_k = self._title_line(lines, idx, features, [k for k in zone if k < start], start)
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
            elif parse_datetime(text) and (is_date_line(text) or len(words(text)) <= 12):
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
        return taken

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
            n_words = len(words(text))
            if (
                not row[_COL["title_like"]]
                or row[_COL["bullet"]]
                or row[_COL["date"]]
                or n_words < 4
                or len(text) < 15
                or text.endswith(":")
                or self.meta.name_in(text)
                or parse_datetime(text)
                or _CREDIT.search(text)
            ):
                continue
            own = {w for w in words(text.casefold()) if len(w) > 1}
            shared = len(own & opening) / max(len(own), 1)
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
        """An author's name on its own line right under the article."""
        taken: set[int] = set()
        for k in range(end, min(len(idx), end + self.options["footer_lines"])):
            i = idx[k]
            text = lines[i].strip()
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
