"""dump_metadata: title, byline, date, section, signature and source attribution from a page dump.

Pages dumped to text keep their header (section, date, title, author) and footer
(signature, "Nguồn: …") as lines. This step moves them into metadata and out of
the text. Fields already known (e.g. from HTML extraction) are not overwritten.

Layouts handled (lines shown in page order):
- above the title: the site's header clock ("Thứ Sáu, ngày 23 tháng 08 năm 2019,
  09:25:27": never the publication date) or a section and publication time
  ("Thời sự" / "Thứ năm, 30/1/2025, 12:24 (GMT+7)"), used only when no date
  follows the title;
- the title, or a kicker line ending in ":" and the title line;
- under the title: section, date, author lines in any order ("PV - 11:05,
  14/12/2021", "By Jane Doe", "Hoàng Thư");
- at the end: a signature ("Minh Thu (tổng hợp)", "Nguyễn An - Trần Bình"),
  credits ("Reporting by …; Editing by …") and the source ("Nguồn: Báo CafeF",
  "Theo VnExpress", "(TTXVN)").
"""

from __future__ import annotations

import re

from pipeline.document import Document
from pipeline.options import Schema, option
from pipeline.s3_clean.dates import has_seconds, has_time, is_date_line, parse_datetime
from pipeline.s3_clean.lines import is_sentence, kept_indices, remove_line, rules_for, split_lines, words
from pipeline.s3_clean.names import NameWords, looks_like_name, looks_like_publication
from pipeline.step import Step

_SENTENCE_END = (".", ";", ",", "…")
# "Trang chủ > Thời sự > Giao thông": the last crumb is the section
_BREADCRUMB = re.compile(r"^[^>»›]{1,40}(?:\s[>»›]\s[^>»›]{1,40}){1,4}$")


def looks_like_title(text: str, max_chars: int) -> bool:
    n = len(words(text))
    return 2 <= n and len(text) <= max_chars and not text.endswith(_SENTENCE_END)


class DumpMetadata(Step):
    name = "dump_metadata"
    pipeline_stage = "clean"

    class Options(Schema):
        rules: list[str] = option(["rules/vi.yaml", "rules/en.yaml"])  # relative to the config file
        title_max_chars: int = 250
        kicker_max_chars: int = 80  # "Đối ngoại năm 2023:" above the title line
        pre_title_max_lines: int = 4  # section / date lines that may sit above the title
        section_max_words: int = 8
        header_max_lines: int = 6  # short lines after the title that may hold section/date/author
        header_line_max_chars: int = 100
        footer_max_lines: int = 4  # lines from the end that may hold a signature, credits or source

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self.rules = rules_for(self)
        r = self.rules
        self._name_words = NameWords(
            suffixes=r.signature_suffixes,
            prefixes=r.signature_prefixes,
            stop=r.not_name_words,
            honorifics=r.honorifics,
        )

    def name_in(self, text: str) -> str | None:
        return looks_like_name(text, self._name_words)

    def process(self, doc: Document) -> None:
        lines = split_lines(doc)
        nonblank = kept_indices(lines)
        meta = doc.metadata
        if doc.provenance.get("extractor") or doc.provenance.get("region"):
            # text an HTML extractor took out of a page, or article_region cut out of a dump, has no
            # header left (title, date and author are known): its first lines are the article
            kept, pre_date = [], None
        else:
            kept, pre_date = self._pre_title(doc, lines, nonblank)
        if not meta.get("title") and kept:
            kept = self._title(doc, lines, kept)
        if kept:
            self._header(doc, lines, kept)
        if pre_date is not None:
            i, text = pre_date
            # a publication time above the title ("Thứ năm, 30/1/2025, 12:24 (GMT+7)") when none follows it;
            # a live clock (with seconds) or a bare date up there is the site's header
            if not meta.get("created") and has_time(text) and not has_seconds(text):
                meta["created"] = parse_datetime(text)
                self._remove(doc, lines, i, "byline")
            else:
                self._remove(doc, lines, i, "header_clock")
        self._footer(doc, lines, [i for i in nonblank if lines[i]])  # a removed line is blanked ("")
        doc.text = "\n".join(lines)

    # -- above the title -------------------------------------------------------------------------

    def _pre_title(self, doc, lines, kept):
        """Date lines, a section line and a one-word site name above the title. Returns the rest and the last date line
        (decided on once the header under the title is known)."""
        pre_date = None
        start = 0
        limit = min(len(kept), self.options["pre_title_max_lines"])
        while start < limit:
            i = kept[start]
            text = lines[i].strip()
            if is_date_line(text):
                if pre_date is not None:
                    self._remove(doc, lines, pre_date[0], "header_clock")
                pre_date = (i, text)
            else:
                section = self._section_of(text, start, kept, lines, above_title=True)
                if section:
                    self._set_section(doc, lines, i, section)
                elif len(words(text)) == 1 and start + 1 < len(kept) and not is_sentence(text, 1):
                    self._remove(doc, lines, i, "page_header")  # the site's logo or name ("TTO", "VnExpress")
                else:
                    break
            start += 1
        return kept[start:], pre_date

    def _section_of(self, text, pos, kept, lines, above_title=False) -> str | None:
        """The section this line names: a known section, a breadcrumb, or (above the title) a short
        line followed by a date line and then the title."""
        if len(words(text)) > self.options["section_max_words"] or text.endswith(_SENTENCE_END):
            return None
        if self.rules.is_section(text):
            return text
        if _BREADCRUMB.match(text):
            return re.split(r"\s[>»›]\s", text)[-1].strip()
        if above_title and len(words(text)) <= 4 and pos + 2 < len(kept):
            after, title = lines[kept[pos + 1]].strip(), lines[kept[pos + 2]].strip()
            if is_date_line(after) and looks_like_title(title, self.options["title_max_chars"]):
                return text
        return None

    def _set_section(self, doc, lines, i, section):
        if not doc.metadata.get("section"):
            doc.metadata["section"] = section
        self._remove(doc, lines, i, "byline")

    # -- the title -------------------------------------------------------------------------------

    def _title(self, doc, lines, kept):
        first = lines[kept[0]].strip()
        max_chars = self.options["title_max_chars"]
        if (
            first.endswith(":")
            and len(first) <= self.options["kicker_max_chars"]
            and len(kept) > 1
            and looks_like_title(lines[kept[1]].strip(), max_chars)
        ):
            doc.metadata["title"] = f"{first} {lines[kept[1]].strip()}"
            self._remove(doc, lines, kept[0], "title")
            self._remove(doc, lines, kept[1], "title")
            return kept[2:]
        if looks_like_title(first, max_chars) and not first.endswith(":"):
            doc.metadata["title"] = first
            self._remove(doc, lines, kept[0], "title")
            return kept[1:]
        return kept

    # -- under the title -------------------------------------------------------------------------

    def _header(self, doc, lines, kept):
        """Section / date / author lines right under the title, moved to metadata.

        The lines are taken in order while each one is a header item; the first line
        that is not (the lead, a subheading) ends the header."""
        block = []
        for i in kept[: self.options["header_max_lines"]]:
            text = lines[i].strip()
            if len(text) > self.options["header_line_max_chars"] or is_sentence(text, 3):
                break
            block.append(i)
        meta = doc.metadata
        for pos, i in enumerate(block):
            text = lines[i].strip()
            kind, value = self._header_item(text, pos, block, lines)
            if kind is None:
                return
            if kind == "section":
                self._set_section(doc, lines, i, value)
                continue
            author, date, section = value
            if section and not meta.get("section"):
                meta["section"] = section
            if date and not meta.get("created"):
                meta["created"] = parse_datetime(date)
            if author and not meta.get("author"):
                meta["author"] = author
            self._remove(doc, lines, i, "byline")

    def _header_item(self, text, pos, block, lines):
        """("section", name) or ("byline", (author, date, section)) for a header line, else (None, None)."""
        section = self.rules.is_section(text) and text
        if section:
            return "section", section
        byline = self._byline(text)
        if byline:
            return "byline", byline
        if is_date_line(text):
            return "byline", (None, text, None)
        for regex, _rule in self.rules.author_line:
            m = regex.match(text)
            if m:
                name = self.name_in(m.group("author"))
                if name:
                    return "byline", (name, None, None)
        name = self.name_in(text)
        if name:
            return "byline", (name, None, None)
        section = self._section_of(text, pos, block, lines)
        if section:
            return "section", section
        # "Hoạt động tư pháp" / "30/01/2025 12:24": a short first line right above the date is the section
        if pos == 0 and len(block) > 1 and len(words(text)) <= self.options["section_max_words"]:
            after = lines[block[1]].strip()
            if is_date_line(after) or self._byline(after):
                return "section", text
        return None, None

    def _byline(self, text):
        """(author, date, section) from "PV - 11:05, 14/12/2021", "By Jane Doe | 3 Feb 2025",
        "30-01-2025 - 12:24 PM | Kinh tế vĩ mô", or None. A byline always holds a date."""
        for regex, _rule in self.rules.byline:
            m = regex.match(text)
            if m and parse_datetime(m.group("date")):
                found = m.groupdict()
                author = found.get("author")
                return (
                    self.name_in(author.strip()) if author else None,
                    found["date"],
                    (found.get("section") or "").strip() or None,
                )
        return None

    # -- the end ---------------------------------------------------------------------------------

    def _footer(self, doc, lines, kept):
        """Source attribution, credits and the author's signature at the end (any order)."""
        meta = doc.metadata
        signed = False
        for i in reversed(kept[-self.options["footer_max_lines"] :]):
            text = lines[i].strip()
            source = self._source(text)
            if source:
                meta.setdefault("source_attribution", source)
                self._remove(doc, lines, i, "source_attribution")
                continue
            credit = self._credit(text)
            if credit is not None:
                if credit and not meta.get("author"):
                    meta["author"] = credit
                self._remove(doc, lines, i, "author_signature")
                continue
            name = None if signed or len(kept) <= 2 else self.name_in(text)
            if name:
                if not meta.get("author"):
                    meta["author"] = name
                self._remove(doc, lines, i, "author_signature")
                signed = True
                continue
            break

    def _source(self, text) -> str | None:
        for regex, _rule in self.rules.source_attribution:
            m = regex.match(text)
            if not m:
                continue
            groups = m.groupdict()
            if groups.get("value"):
                return groups["value"].strip()
            # "Theo …" is also how sentences start: only a publication's name counts
            if groups.get("name") and looks_like_publication(groups["name"], self.rules.not_name_words):
                return groups["name"].strip()
        return None

    def _credit(self, text) -> str | None:
        """ "" for a credits line ("Reporting by A; Editing by B"), the author when it names one, None otherwise."""
        for regex, _rule in self.rules.credit_line:
            m = regex.match(text)
            if m:
                author = m.groupdict().get("author")
                return (self.name_in(author) if author else None) or ""
        return None

    def _remove(self, doc, lines, i, rule):
        remove_line(doc, lines, i, rule, f"step {self.name}")
        self.stats.counters[f"lines_removed.{rule}"] += 1
