"""Metadata from page dumps: title, section, date, author, source; those lines leave the text."""

from __future__ import annotations

import pytest
from clean_helpers import E1, E2, E3, EN_TITLE, P1, P2, P3, TITLE, clean, kept, page, removed


def test_header_clock_above_the_title_is_not_the_publication_date():
    clock = "Thứ Hai, ngày 12 tháng 5 năm 2025, 08:15:42"
    doc = clean(page(clock, "", TITLE, "", "PV - 09:30, 11/05/2025", "", P1, P2))
    assert removed(doc)[clock] == "header_clock"
    assert doc.metadata["created"] == "2025-05-11T09:30:00"
    assert doc.metadata["author"] == "PV"
    assert doc.metadata["title"] == TITLE
    assert kept(doc) == [P1, P2]


@pytest.mark.parametrize("above", ["Thứ Sáu, ngày 23 tháng 08 năm 2019, 09:25:27", "Thứ Hai, 12/05/2025"])
def test_a_clock_or_bare_date_above_the_title_gives_no_date(above):
    doc = clean(page(above, TITLE, P1, P2))
    assert removed(doc)[above] == "header_clock"
    assert not doc.metadata.get("created")


def test_section_and_publication_time_above_the_title():
    doc = clean(page("Thời sự", "Thứ năm, 30/1/2025, 12:24 (GMT+7)", TITLE, P1, P2))
    assert doc.metadata["section"] == "Thời sự"
    assert doc.metadata["created"] == "2025-01-30T12:24:00+07:00"  # the page states its zone
    assert doc.metadata["title"] == TITLE
    assert kept(doc) == [P1, P2]


def test_breadcrumb_gives_the_section():
    doc = clean(page("Trang chủ > Xã hội > Giao thông", TITLE, P1, P2))
    assert doc.metadata["section"] == "Giao thông"
    assert kept(doc) == [P1, P2]


def test_section_date_author_block_under_the_title():
    doc = clean(page(TITLE, "", "Giao thông đô thị", "11/05/2025 09:30", "Minh Anh", "aa", P1, P2))
    assert doc.metadata["section"] == "Giao thông đô thị"
    assert doc.metadata["created"] == "2025-05-11T09:30:00"
    assert doc.metadata["author"] == "Minh Anh"
    assert removed(doc)["Minh Anh"] == "byline"
    assert kept(doc) == [P1, P2]


@pytest.mark.parametrize(
    "byline, author, created",
    [
        ("PV - 11:05, 14/12/2021", "PV", "2021-12-14T11:05:00"),
        ("Hoàng Lan | 08:00 20/10/2023", "Hoàng Lan", "2023-10-20T08:00:00"),
        ("Thứ năm, 30/01/2025 - 12:24", None, "2025-01-30T12:24:00"),
        ("Cập nhật: 12:24 30/01/2025", None, "2025-01-30T12:24:00"),
    ],
)
def test_one_line_bylines(byline, author, created):
    doc = clean(page(TITLE, byline, P1, P2))
    assert doc.metadata.get("author") == author
    assert doc.metadata["created"] == created
    assert kept(doc) == [P1, P2]


def test_author_before_the_date():
    doc = clean(page(TITLE, "Lê Hoàng Nam", "Thứ năm, 30/01/2025 - 12:24", P1, P2))
    assert (doc.metadata["author"], doc.metadata["created"]) == ("Lê Hoàng Nam", "2025-01-30T12:24:00")
    assert not doc.metadata.get("section")


def test_english_byline_and_date():
    doc = clean(page(EN_TITLE, "By Jane Doe", "February 3, 2025 3:15 PM", E1, E2, E3))
    assert doc.metadata["author"] == "Jane Doe"
    assert doc.metadata["created"] == "2025-02-03T15:15:00"
    assert kept(doc) == [E1, E2, E3]


def test_kicker_and_title_make_one_title():
    doc = clean(page("Giao thông năm 2025:", "", "Khởi công cầu mới bắc qua sông Hậu", "", P1, P2))
    assert doc.metadata["title"] == "Giao thông năm 2025: Khởi công cầu mới bắc qua sông Hậu"
    assert kept(doc) == [P1, P2]


def test_a_page_that_starts_with_its_lead_has_no_title():
    doc = clean(page(P1, P2, P3))
    assert not doc.metadata.get("title")
    assert kept(doc) == [P1, P2, P3]


@pytest.mark.parametrize(
    "signature, author",
    [
        ("Lê Hoàng Nam", "Lê Hoàng Nam"),
        ("Nguyễn An - Trần Bình", "Nguyễn An - Trần Bình"),
        ("Thu Hà (tổng hợp)", "Thu Hà"),
        ("NHÓM PV", "NHÓM PV"),
        ("PV/VOV-Cần Thơ", "PV"),
        ("Minh Thu - Ảnh: Quang Hiếu", "Minh Thu"),
        ("Bài và ảnh: Lê Chi", "Lê Chi"),
        ("Q.L.", "Q.L."),
    ],
)
def test_author_signature_at_the_end(signature, author):
    doc = clean(page(TITLE, P1, P2, P3, signature))
    assert doc.metadata["author"] == author
    assert removed(doc)[signature] == "author_signature"
    assert kept(doc) == [P1, P2, P3]


@pytest.mark.parametrize(
    "last",
    [
        "Cầu Cần Thơ lúc hoàng hôn.",
        "Anh Nguyễn Văn Tư - Ảnh: Q.L.",
        "Trong ảnh: người dân chờ phà",
        "Công trình dự kiến hoàn thành vào cuối năm 2027 và đưa vào khai thác ngay sau đó.",
    ],
)
def test_last_lines_that_are_not_signatures_stay(last):
    doc = clean(page(TITLE, P1, P2, last))
    assert not doc.metadata.get("author")
    assert kept(doc) == [P1, P2, last]


@pytest.mark.parametrize(
    "line, source",
    [
        ("Nguồn: Báo Cần Thơ", "Báo Cần Thơ"),
        ("Theo VnExpress", "VnExpress"),
        ("(Theo Dân trí)", "Dân trí"),
        ("(TTXVN)", "TTXVN"),
        ("Theo Reuters, AFP", "Reuters, AFP"),
        ("Source: Reuters", "Reuters"),
    ],
)
def test_source_attribution_at_the_end(line, source):
    doc = clean(page(TITLE, P1, P2, line))
    assert doc.metadata["source_attribution"] == source
    assert removed(doc)[line] == "source_attribution"
    assert kept(doc) == [P1, P2]


def test_signature_and_source_together():
    doc = clean(page(TITLE, P1, P2, "Minh Anh", "Theo TTXVN"))
    assert (doc.metadata["author"], doc.metadata["source_attribution"]) == ("Minh Anh", "TTXVN")
    assert kept(doc) == [P1, P2]


@pytest.mark.parametrize(
    "line",
    [
        "Theo báo cáo của Sở Giao thông vận tải, lưu lượng xe qua phà đã tăng 20% so với năm ngoái.",
        "Theo ông Nguyễn Văn Tư",
        "Theo đó",
    ],
)
def test_sentences_starting_with_theo_are_not_sources(line):
    doc = clean(page(TITLE, P1, P2, line))
    assert "source_attribution" not in doc.metadata
    assert kept(doc) == [P1, P2, line]


def test_english_credits_at_the_end():
    doc = clean(page(EN_TITLE, E1, E2, E3, "Reporting by Jane Doe in London; Editing by John Roe"))
    assert doc.metadata["author"] == "Jane Doe"
    assert kept(doc) == [E1, E2, E3]


def test_known_metadata_is_not_overwritten_but_the_lines_still_go():
    doc = clean(page(TITLE, P1, P2, "Minh Anh"), metadata={"title": TITLE, "author": "Tòa soạn"})
    assert doc.metadata["author"] == "Tòa soạn"
    assert removed(doc) == {TITLE: "repeated_title", "Minh Anh": "author_signature"}


def test_metadata_removals_name_the_step():
    doc = clean(page(TITLE, "PV - 11:05, 14/12/2021", P1, P2, "Minh Anh"))
    assert {r.rule for r in doc.removed} == {"title", "byline", "author_signature"}
    assert all(r.source == "step dump_metadata" for r in doc.removed)
