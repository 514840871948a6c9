"""The languages htmldate's fallback date parser (dateparser) tries, and their check.

Apart from page_meta (which imports htmldate and trafilatura) so that the config and the HTML step can
name and check them without importing either: a run of text records never needs them (~0.15 s of CPU).
"""

from __future__ import annotations

# dateparser's most used languages (the head of its own `language_order`): every date string of the 495
# extraction benchmark pages that dateparser reads is read in one of them
DATE_LANGUAGES = [
    *("en", "ru", "es", "fr", "de", "ja", "tr", "pt", "fa", "it", "zh", "nl", "vi", "pl", "ar"),
    *("ko", "cs", "id", "uk", "el", "he", "th", "sv", "ro", "hu", "da", "fi", "sk", "bg", "nb"),
]


def check_date_languages(languages: list[str]) -> str | None:
    """A one-line problem with a `date_languages` list (a language dateparser does not know), or None.
    dateparser (~0.04 s to import) is asked only about languages outside DATE_LANGUAGES, which it knows
    (tests/test_start_up.py)."""
    others = [lang for lang in languages if lang != "*" and lang not in DATE_LANGUAGES]
    if not others:
        return None
    from dateparser.data.languages_info import language_order

    unknown = [lang for lang in others if lang not in language_order]
    return f"date_languages: unknown to dateparser: {', '.join(unknown)}" if unknown else None
