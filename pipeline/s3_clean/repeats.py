"""repeated_lines: the title repeated as image alt text, duplicated captions, slug lines."""

from __future__ import annotations

import re
import unicodedata

from pipeline.document import Document
from pipeline.options import Schema
from pipeline.s3_clean.lines import fold_accents, kept_indices, remove_line, split_lines
from pipeline.s3_clean.rules import folded_key, folded_word, line_plain_keys, phrase_key
from pipeline.step import Step

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _has_diacritics(text: str) -> bool:
    return any(ord(c) > 127 and unicodedata.category(c).startswith("L") for c in text)


# what alt text adds to the title it repeats: "<title> - 2", "<title> - Ảnh 3", "<title> (ảnh 1)"
_COPY_SUFFIX = re.compile(r"^[\s\-–—|(]*(?:ảnh|hình|photo|image|bild|foto)?\s*\d{0,3}[\s).]*$")


def _numbered_copy(key: str, title_key: str) -> bool:
    return (
        key.startswith(title_key)
        and len(key) > len(title_key)
        and bool(_COPY_SUFFIX.match(key[len(title_key) :]))
    )


class _SeenKeys:
    """The keys (`phrase_key`) of the lines met so far, each folded only when needed. Folding moves
    tone marks inside words, word by word, so two lines can share a key only when they have as many
    words and the same first word once folded (their `bucket`); a line's whole key is folded when an
    earlier line of its bucket has another plain key."""

    def __init__(self) -> None:
        self.plain: set[str] = set()
        self.folded: set[str] = set()
        self.alone: dict[tuple, str] = {}  # bucket -> the one plain key met in it, not folded yet

    def met(self, plain: str, bucket: tuple) -> bool:
        """Was a line with this key met before? The line is met from now on."""
        if plain in self.plain:
            return True
        self.plain.add(plain)
        if bucket not in self.alone:
            self.alone[bucket] = plain
            return False
        other = self.alone[bucket]
        if other:  # the bucket's first line: folded now, and no longer alone
            self.folded.add(folded_key(other))
            self.alone[bucket] = ""
        key = folded_key(plain)
        if key in self.folded:
            return True
        self.folded.add(key)
        return False


class RepeatedLines(Step):
    name = "repeated_lines"
    pipeline_stage = "clean"

    class Options(Schema):
        repeated_title: bool = True
        duplicate_lines: bool = True
        duplicate_min_words: int = 3  # shorter repeats ("Ảnh: TTXVN") may be legitimate
        slug_lines: bool = True
        # "tong bi thu to lam lam viec voi ...": a URL slug printed as a line
        slug_pattern: str = r"^[a-z0-9]+(?:[ -][a-z0-9]+){3,}$"
        slug_standalone_min_words: int = 5  # without a matching neighbour, in a text written with diacritics

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self.slug = re.compile(self.options["slug_pattern"])

    def process(self, doc: Document) -> None:
        lines = split_lines(doc)
        kept = kept_indices(lines)
        plains = line_plain_keys(doc.text)  # the lines' phrase_key, before tone marks are folded
        title = doc.metadata.get("title")
        title_key = phrase_key(title) if title else None
        # the line and a copy of the title both start with the title's key: their first words (once
        # folded) are the title's first word, or start with it when the title is one word
        title_head, title_words, _ = (title_key or "").partition(" ")
        seen = _SeenKeys()
        accented_doc = None
        for pos, i in enumerate(kept):
            text = lines[i].strip()
            plain = plains[i]  # the line's phrase_key is folded_key(plain), folded when needed
            head = folded_word(plain.partition(" ")[0])  # its first word as folded_key leaves it
            if (
                title_key
                and self.options["repeated_title"]
                and (head == title_head if title_words else head.startswith(title_head))
            ):
                key = folded_key(plain)
                if key == title_key or _numbered_copy(key, title_key):
                    self._remove(doc, lines, i, "repeated_title")
                    continue
            if self.options["slug_lines"] and self.slug.match(text):
                neighbours = [lines[j] for j in kept[max(0, pos - 2) : pos + 3] if j != i]
                slug = _NON_ALNUM.sub(" ", text).strip()
                if any(_NON_ALNUM.sub(" ", fold_accents(n)).strip() == slug for n in neighbours):
                    self._remove(doc, lines, i, "slug_line")
                    continue
                if accented_doc is None:
                    accented_doc = _has_diacritics(doc.text[:5000])
                if accented_doc and len(text.split()) >= self.options["slug_standalone_min_words"]:
                    self._remove(doc, lines, i, "slug_line")
                    continue
            words = plain.count(" ") + 1
            if self.options["duplicate_lines"] and words >= self.options["duplicate_min_words"]:
                if seen.met(plain, (words, head)):
                    self._remove(doc, lines, i, "duplicate_line")
                    continue
        doc.text = "\n".join(lines)

    def _remove(self, doc, lines, i, rule):
        remove_line(doc, lines, i, rule, f"step {self.name}")
        self.stats.counters[f"lines_removed.{rule}"] += 1
