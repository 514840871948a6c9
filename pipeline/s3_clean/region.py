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
from pipeline.s3_clean.dates import has_seconds, has_time, is_date_line, parse_datetime
from pipeline.s3_clean.dump_metadata import DumpMetadata
from pipeline.s3_clean.line_features import BASE, line_features
from pipeline.s3_clean.line_model import MODEL_PATH, load_model
from pipeline.s3_clean.lines import remove_line, split_lines, words
from pipeline.step import Step

_COL = {name: k for k, name in enumerate(BASE)}
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
    defaults = {
        "model": "",  # path of a retrained line model; "" = the one shipped in the package
        "threshold": 0.5,  # P(article line) above which a line counts for the article
        "header_lines": 12,  # non-blank lines above the article searched for title, date, author
        "footer_lines": 3,  # lines below it searched for a signature
        "min_article_chars": 250,  # prose in the segment below this: the page has no article
        "min_prose_lines": 2,
        "rules": ["rules/vi.yaml", "rules/en.yaml"],  # byline / name word lists for the header
    }

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self.model = load_model(self.options["model"] or None)
        self._model_name = self.options["model"] or f"pipeline/s3_clean/{MODEL_PATH.name}"
        self.meta = DumpMetadata({"rules": self.options["rules"]}, context)

    def process(self, doc: Document) -> None:
        if doc.provenance.get("extractor"):
            return  # an extractor's text is the article already
        lines = split_lines(doc)
        idx, features = line_features(lines)
        if not idx:
            return
        proba = self.model.predict(features)
        threshold = self.options["threshold"]
        start, end = best_segment(proba - threshold)
        prose = features[start:end, _COL["prose"]] > 0
        kept_chars = sum(len(lines[idx[k]].strip()) for k in range(start, end)
                         if prose[k - start] and proba[k] >= threshold)
        if kept_chars < self.options["min_article_chars"] or prose.sum() < self.options["min_prose_lines"]:
            doc.drop(self.name, "not_article",
                     f"densest article segment holds {kept_chars} chars of prose in {int(prose.sum())} lines "
                     f"(min {self.options['min_article_chars']}); {len(idx)} lines on the page")
            return
        doc.provenance["region"] = (idx[start] + 1, idx[end - 1] + 1)
        # the header: lines above the article, and the low-scored ones among its first lines
        # (a date or share bar under the lead)
        zone = list(range(max(0, start - self.options["header_lines"]), start))
        zone += [k for k in range(start, min(end, start + 6)) if proba[k] < threshold]
        taken = self._header(doc, lines, idx, features, zone, start)
        taken |= self._signature(doc, lines, idx, end)
        for k, i in enumerate(idx):
            if i in taken or not lines[i].strip():
                continue
            if k < start or k >= end:
                self._remove(doc, lines, i, self._block_kind(features, k, inside=False), proba[k])
            elif proba[k] < threshold:
                self._remove(doc, lines, i, self._block_kind(features, k, inside=True), proba[k])
        doc.text = "\n".join(lines)

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
        title_k = self._title_line(lines, idx, features, [k for k in zone if k < start])
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
                self._remove_meta(doc, lines, i, "byline")
                taken.add(i)
            elif title_k is not None and k > title_k and self.meta.name_in(text):
                if not meta.get("author"):
                    meta["author"] = self.meta.name_in(text)
                self._remove_meta(doc, lines, i, "byline")
                taken.add(i)
            elif _BREADCRUMB.match(text) or (self.meta.rules.is_section(text) and len(words(text)) <= 6):
                if not meta.get("section") and (title_k is None or k < title_k):
                    crumbs = re.split(r"\s*[>»›/|]\s*", text)
                    meta["section"] = crumbs[-1].strip()
                self._remove_meta(doc, lines, i, "breadcrumb")
                taken.add(i)
        if dates and not meta.get("created"):
            meta["created"] = self._publication_date(dates, title_k)
        return taken

    def _title_line(self, lines, idx, features, zone) -> int | None:
        """The headline: a title-like line close above the article; repeated on the page (alt text,
        a second heading) counts for it, bullets, dates and very short lines against it."""
        best, best_score = None, 0.0
        for k in zone:
            row = features[k]
            text = lines[idx[k]].strip()
            n_words = len(words(text))
            if (not row[_COL["title_like"]] or row[_COL["bullet"]] or row[_COL["date"]] or n_words < 4
                    or len(text) < 15 or text.endswith(":") or self.meta.name_in(text)):
                continue
            score = 1.0 + 0.15 * min(n_words, 20) / 20 + 0.5 * (row[_COL["repeated"]] > 0) \
                - 0.08 * (zone[-1] - k) - 0.5 * (row[_COL["separator"]] > 0)
            if score > best_score:
                best, best_score = k, score
        return best

    @staticmethod
    def _publication_date(dates, title_k):
        """The date under the title wins; a clock with seconds (the site header) only as a last resort."""
        ranked = sorted(dates, key=lambda kd: (has_seconds(kd[1]), title_k is not None and kd[0] < title_k,
                                                not has_time(kd[1])))
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
