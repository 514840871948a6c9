"""Find a publication date-time in a short line (Vietnamese and English forms)."""

from __future__ import annotations

import re

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}

_DMY = re.compile(r"(?<!\d)(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?!\d)")
_YMD = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_VN_LONG = re.compile(r"ngày\s+(\d{1,2})\s+tháng\s+(\d{1,2})\s+năm\s+(\d{4})", re.I)
_EN_MDY = re.compile(
    r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(\d{1,2}),?\s+(\d{4})\b", re.I
)
_EN_DMY = re.compile(
    r"\b(\d{1,2})\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?,?\s+(\d{4})\b", re.I
)
_TIME = re.compile(r"(?<![\d/])(\d{1,2})[:h](\d{2})(?::(\d{2}))?(?!\d)\s*(am|pm)?", re.I)
# "15.15 GMT" (the Guardian): a dotted time only next to a time zone, never a decimal
_DOTTED_TIME = re.compile(
    r"(?<![\d/.])(\d{1,2})\.(\d{2})()(?!\d)\s*(am|pm)?\s*(?=gmt|bst|utc|ict|[ecmp][sd]?t\b)", re.I
)

# everything a pure date line may hold besides the date itself
_DATE_NOISE = re.compile(
    r"thứ\s+(?:hai|ba|tư|năm|sáu|bảy|[2-7])|chủ\s+nhật|\bcn\b|ngày|tháng|năm|lúc|giờ|gmt\s*[+-]?\s*\d*|utc|"
    r"\b(?:ict|bst|cet|cest|[ecmp][sd]?t)\b|\bon\b|\bat\b|\b(?:minutes?|mins?|hours?|hrs?|days?)\s+ago\b|"
    r"\b(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\b|\b(?:published|updated|posted|cập nhật|đăng)\b|"
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b|\b(?:am|pm)\b|[\d/:.,()|+\-–]",
    re.I,
)


def find_date(text: str) -> tuple[int, int, int] | None:
    for regex, order in ((_DMY, "dmy"), (_VN_LONG, "dmy"), (_YMD, "ymd"), (_EN_MDY, "mdy"), (_EN_DMY, "dmy")):
        m = regex.search(text)
        if not m:
            continue
        a, b, c = m.groups()
        if order == "ymd":
            y, mo, d = int(a), int(b), int(c)
        elif order == "mdy":
            mo, d, y = _MONTHS[a[:3].lower()], int(b), int(c)
        else:
            d, y = int(a), int(c)
            mo = int(b) if b.isdigit() else _MONTHS[b[:3].lower()]
        if 1 <= d <= 31 and 1 <= mo <= 12 and 1900 <= y <= 2100:
            return y, mo, d
    return None


# a time zone stated after the time: "GMT+7", "(GMT+07:00)", "UTC", "+0700", "Z" (ISO), "ICT" (Indochina)
_ZONE = re.compile(
    r"\s*\(?(?:(?:gmt|utc)\s*(?:([+-])\s*(\d{1,2})(?::?(\d{2}))?)?|([+-])(\d{2}):?(\d{2})|(z)|(ict))\b", re.I
)


def _offset(zone: re.Match) -> str:
    """'+07:00' for the stated zone."""
    sign, hours, minutes, iso_sign, iso_hours, iso_minutes, z, ict = zone.groups()
    if ict:
        return "+07:00"
    if iso_sign:
        sign, hours, minutes = iso_sign, iso_hours, iso_minutes
    if z or not sign:
        return "+00:00"
    return f"{sign}{int(hours):02d}:{int(minutes or 0):02d}"


def parse_datetime(text: str) -> str | None:
    """ISO 8601 or None: '2025-01-30T12:24:00+07:00' when the text states a zone after the time,
    '2025-01-30T12:24:00' when it states none, '2025-01-30' without a time."""
    date = find_date(text)
    if not date:
        return None
    y, mo, d = date
    t = _TIME.search(text) or _DOTTED_TIME.search(text)
    if t:
        h, mi, s = int(t.group(1)), int(t.group(2)), int(t.group(3) or 0)
        if t.group(4):
            h = h % 12 + (12 if t.group(4).lower() == "pm" else 0)
        if h < 24 and mi < 60 and s < 60:
            zone = _ZONE.match(text, t.end())
            offset = _offset(zone) if zone and zone.group(0).strip() else ""
            return f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{offset}"
    return f"{y:04d}-{mo:02d}-{d:02d}"


def has_seconds(text: str) -> bool:
    """A time with seconds ("09:25:27"): a live clock in the site header, not a publication time."""
    t = _TIME.search(text)
    return bool(t and t.group(3))


def has_time(text: str) -> bool:
    return bool(_TIME.search(text) or _DOTTED_TIME.search(text))


def is_date_line(text: str) -> bool:
    """A line that is a date (and maybe a time/weekday) and nothing else."""
    if len(text) > 80 or not find_date(text):
        return False
    return len(_DATE_NOISE.sub(" ", text).split()) == 0
