"""PatternSet's patterns tried alone (they may start with any character but need a word of their own):
the word each needs, and the same rule found as one alternation of every pattern would find it."""

from __future__ import annotations

import re

import pytest

from pipeline.s3_clean.regex_ends import required_literals
from pipeline.s3_clean.rules import PatternSet, Rule


@pytest.mark.parametrize(
    "pattern,expected",
    [
        # the alt text rule: "ảnh" or "hình" within 6 characters of the end (" 123." and the "$" slack)
        (r".{10,300}?\s?-\s?(?:ảnh|hình)(?:\s\d{1,3})?\.?$", (("ảnh", "hình"), 6)),
        (r".{1,60}\s[-–|·]\s\d{1,2}\s+(?:phút|giờ)\s+trước$", (("trước",), 1)),
        (r".{1,60}\s-\s\d+\s+(?:hours?|days?)\s+AGO$", (("ago",), 1)),  # lowercased
        (r"(?=.{0,80}°)(?:\w+\s)+-?\d{1,2}\s*°\s*c?$", (("°",), None)),  # after \s*: anywhere
        (r".*?(?:Đọc thêm)", (("đọc thêm",), None)),  # not $-anchored: anywhere
        # i, s and k-like letters also match other characters case-insensitively (ı, ſ, K): never words
        (r".*?(?:is)$", None),
        (r"(?=.{0,160}\.(?:jpe?g|png)$)[\w\s().,+~-]{1,150}\.[a-z]{3,4}$", None),  # "." alone is too common
    ],
)
def test_required_literals(pattern, expected):
    assert required_literals(pattern) == expected


def _patterns(*specs: tuple[str, str]) -> PatternSet:
    patterns = PatternSet()
    for name, pattern in specs:
        patterns.add(Rule(name, f"test:{name}", pattern))
    return patterns


ALONE = ("alone", r".{1,60}\s-\s\d+\s+days?\s+ago$")  # any first character: tried alone on lines with "ago"
ANCHORED = ("anchored", r"^news\b.*ago$")  # starts with "n": in the alternations


@pytest.mark.parametrize("specs,winner", [((ALONE, ANCHORED), "alone"), ((ANCHORED, ALONE), "anchored")])
def test_the_first_pattern_in_file_order_wins_whether_tried_alone_or_in_an_alternation(specs, winner):
    patterns = _patterns(*specs)
    assert patterns.match("News - 3 days ago").name == winner  # both patterns match it
    assert patterns.match("Sport - 3 days AGO").name == "alone"
    assert patterns.match("News of the day ago").name == "anchored"
    assert patterns.match("Sport - 3 days later") is None
    assert "ago" not in "Sport - 3 days agơ" and patterns.match("Sport - 3 days agơ") is None


def test_patterns_tried_alone_match_like_one_alternation_of_every_pattern():
    specs = [
        ALONE,
        ("photo", r"^.{10,300}?\s?-\s?(?:ảnh|hình)(?:\s\d{1,3})?\.?$"),
        ANCHORED,
        ("temp", r"(?=.{0,40}°)(?:\w+\s)+-?\d{1,2}\s*°\s*[cf]?$"),
        ("credit", r"^ảnh:\s*\w+$"),
    ]
    patterns = _patterns(*specs)
    one = re.compile("|".join(f"(?P<{n}>{p.lstrip('^')})" for n, p in specs), re.IGNORECASE)
    lines = [
        "Một tiêu đề dài của bài báo - Ảnh 2.",
        "MỘT TIÊU ĐỀ DÀI CỦA BÀI BÁO - HÌNH 12",
        "Một câu văn có chữ ảnh ở giữa nhưng không ở cuối dòng.",
        "Ảnh: Minh",
        "Ảnh: Minh - Ảnh",
        "Hà Nội 24 °C",
        "Nhiệt độ hôm nay là 24 °C vào buổi trưa.",
        "News - 3 days ago",
        "news ago",
        "short - ảnh",
    ]
    for line in lines:
        m = one.match(line)
        found = patterns.match(line)
        assert (found.name if found else None) == (m.lastgroup if m else None), line
