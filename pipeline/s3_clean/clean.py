"""clean_lines: remove boilerplate lines by the rules in config/rules/*.yaml."""

from __future__ import annotations

import unicodedata

from pipeline.document import Document
from pipeline.options import Schema, option
from pipeline.s3_clean.lines import is_sentence, remove_line, rules_for, split_lines
from pipeline.s3_clean.rules import phrase_key
from pipeline.step import Step


def _word_pairs(text: str) -> set[tuple[str, str]]:
    words = [w.strip(".,;:!?\"'“”()").lower() for w in text.split()]
    return {(a, b) for a, b in zip(words, words[1:]) if a and b}


class CleanLines(Step):
    """Line rules: single-line phrases/patterns, teaser cards, and end-of-article markers.

    An end marker ("Tin cùng chuyên mục", "Related articles") removes itself and
    the list after it. Two guards keep it from eating the article:
    - before the article has begun (too little prose above) it removes only itself,
      so a menu item at the top cannot swallow the article;
    - the list stops where running prose resumes (most of the next few lines are
      sentences not seen before): a "TIN LIÊN QUAN" box inside the article takes
      its link titles, not the paragraphs after it.
    """

    name = "clean_lines"
    pipeline_stage = "clean"

    class Options(Schema):
        # relative to the config file
        rules: list[str] = option(["rules/vi.yaml", "rules/en.yaml", "rules/web.yaml"])
        disabled_rules: list[str] = option([])
        min_body_chars_before_end: int = 250  # prose needed above an end marker for it to end the article
        prose_line_chars: int = 80  # a line this long counts as article prose
        # after an end marker, prose resumes at a new sentence line when at least this share of
        # the next `resume_window` lines are new sentences too (the marker was inside the article)
        resume_window: int = 6
        resume_share: float = 0.6
        sentence_min_words: int = 6

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self.rules = rules_for(self)
        self.disabled = set(self.options["disabled_rules"])

    def process(self, doc: Document) -> None:
        rules, disabled = self.rules, self.disabled
        if not unicodedata.is_normalized("NFC", doc.text):
            doc.text = unicodedata.normalize("NFC", doc.text)  # rules are written in NFC; input may be NFD
        lines = split_lines(doc)
        opts = self.options
        nonblank = [i for i, line in enumerate(lines) if line.strip()]
        seen: set[str] = set()  # keys of lines met so far: a repeated line is a card title, not prose
        prose_chars = 0
        ending = None  # the end rule in force: lines go until prose resumes
        list_lines: list[str] = []  # the lines removed under `ending`
        summary_of_teaser = None  # a teaser card's summary line comes right after its meta line
        for pos, i in enumerate(nonblank):
            text = lines[i].strip()
            rule = rules.classify(text)
            if rule and rule.name in disabled:
                rule = None
            if rule and rule.kind == "end":
                if ending or prose_chars >= opts["min_body_chars_before_end"]:
                    if not ending:
                        list_lines = []
                    ending = rule
                self._remove(doc, lines, i, rule.name, rule.source)
                continue
            if ending:
                if rule is None and self._prose_resumes(lines, nonblank, pos, seen, list_lines):
                    ending = None
                else:
                    seen.add(text)
                    list_lines.append(text)
                    self._remove(doc, lines, i, ending.name, ending.source)
                    continue
            if summary_of_teaser:
                self._remove(doc, lines, i, "teaser_card", summary_of_teaser.source)
                summary_of_teaser = None
                continue
            if rule and rule.kind == "line":
                self._remove(doc, lines, i, rule.name, rule.source)
                continue
            if rule and rule.kind == "teaser":
                # before the article has begun, "Thời sự - 2 giờ trước" is the page's own byline:
                # the lines around it are the title and the lead, not a card
                if prose_chars >= opts["min_body_chars_before_end"]:
                    self._remove_teaser_title(doc, lines, i, rule.source)
                    summary_of_teaser = rule
                self._remove(doc, lines, i, "teaser_card", rule.source)
                continue
            # article prose: long lines that end like sentences (a menu bar rendered as one long
            # line is not, and must not arm the end markers above the article)
            if len(text) >= opts["prose_line_chars"] and is_sentence(text, opts["sentence_min_words"]):
                prose_chars += len(text)
            seen.add(text)
        doc.text = "\n".join(lines)

    def _prose_resumes(self, lines, nonblank, pos, seen, list_lines=()) -> bool:
        """Does running prose start again at `pos`? This line and the next one are new sentences,
        and so are most of the few after. Lines other rules remove, repeats and very short lines
        (a signature, "Theo TTXVN") are not counted. A list alternates titles (no full stop) with
        summaries, a comment thread names with comments: neither has two sentences in a row.
        The article's last paragraph after a box of bare link titles counts too: a long sentence
        line with nothing countable after it, when the box held no sentence and the line shares
        no word pair with the title above it (a teaser's summary retells its title)."""
        first = lines[nonblank[pos]].strip()
        min_words = self.options["sentence_min_words"]
        if not is_sentence(first, min_words) or first in seen:
            return False
        counted = sentences = 1
        for j in nonblank[pos + 1 : pos + self.options["resume_window"]]:
            text = lines[j].strip()
            rule = None if text in seen else self.rules.classify(text)
            if rule and rule.kind == "end":
                break  # the next list starts: what follows it says nothing about this stretch
            if rule or text in seen or text.count(" ") < 3:
                continue
            sentence = is_sentence(text, min_words)
            if counted == 1 and not sentence:
                return False
            counted += 1
            sentences += sentence
        if counted == 1:
            return (
                len(first) >= self.options["prose_line_chars"]
                and bool(list_lines)
                and not any(is_sentence(t, min_words) for t in list_lines)
                and not _word_pairs(first) & _word_pairs(list_lines[-1])
            )
        return sentences >= self.options["resume_share"] * counted

    def _remove(self, doc, lines, i, rule, source):
        remove_line(doc, lines, i, rule, source)
        self.stats.counters[f"lines_removed.{rule}"] += 1

    def _remove_teaser_title(self, doc, lines, i, source):
        """The card's title sits above its meta line, often twice: remove up to two short lines."""
        above = [j for j in range(i - 1, max(-1, i - 6), -1) if lines[j].strip()][:2]
        if not above:
            return
        first = phrase_key(lines[above[0]])
        for j in above:
            if len(lines[j]) <= 250 and (j == above[0] or phrase_key(lines[j]) == first):
                self._remove(doc, lines, j, "teaser_card", source)
