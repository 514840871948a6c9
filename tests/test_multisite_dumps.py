"""Made-up page dumps laid out like other news sites: the rules written for the seeds must
generalize. Each page: the body lines that must stay (in order), and the metadata expected."""

from __future__ import annotations

import pytest
from clean_helpers import E1, E2, E3, EN_TITLE, P1, P2, P3, P4, TITLE, clean, kept, page

CAPTION = "Phối cảnh cây cầu mới bắc qua sông Hậu. Ảnh: Ban quản lý dự án"
SUB = "Giảm tải cho bến phà"
RELATED = [
    "Hà Nội thông xe cầu vượt mới ở cửa ngõ phía Tây",
    "Đà Nẵng khai trương tuyến xe buýt điện đầu tiên",
]
SUMMARY = "Cầu vượt dài gần một cây số giúp giảm ùn tắc cho hàng chục nghìn phương tiện mỗi ngày."
EN_CAPTION = "Image caption, Families gathered at the riverbank for the announcement"

SITES = {
    "vnexpress": (
        page(
            "Thời sự",
            "Thứ năm, 30/1/2025, 12:24 (GMT+7)",
            TITLE,
            P1,
            P2,
            CAPTION,
            P3,
            SUB,
            P4,
            "Nguyễn Văn An - Trần Bình",
            "Xem thêm: Cần Thơ đón hơn một triệu lượt khách dịp Tết",
            "Chia sẻ",
            "Tags: cầu Cần Thơ, sông Hậu",
            "Trở lại Thời sự",
        ),
        [P1, P2, CAPTION, P3, SUB, P4],
        {
            "title": TITLE,
            "section": "Thời sự",
            "created": "2025-01-30T12:24:00+07:00",
            "author": "Nguyễn Văn An - Trần Bình",
        },
    ),
    "tuoitre": (
        page(
            "TTO",
            "Thời sự",
            "30/01/2025 12:24 GMT+7",
            TITLE,
            P1,
            "Theo dõi Tuổi Trẻ trên Google News",
            P2,
            CAPTION,
            P3,
            "MINH ANH",
            "TIN LIÊN QUAN",
            *RELATED,
            "Bình luận",
            "Xem thêm bình luận",
        ),
        [P1, P2, CAPTION, P3],
        {"title": TITLE, "section": "Thời sự", "created": "2025-01-30T12:24:00+07:00", "author": "MINH ANH"},
    ),
    "dantri": (
        page(
            "Xã hội > Giao thông",
            TITLE,
            "Minh Anh",
            "Thứ năm, 30/01/2025 - 12:24",
            "Nghe bài viết",
            "Giọng nữ miền Bắc",
            "Giọng nam miền Nam",
            P1,
            P2,
            P3,
            "Chủ đề: Giao thông đô thị",
            "Tin liên quan",
            RELATED[0],
            SUMMARY,
            RELATED[1],
            "Đọc nhiều",
        ),
        [P1, P2, P3],
        {"title": TITLE, "section": "Giao thông", "created": "2025-01-30T12:24:00", "author": "Minh Anh"},
    ),
    "vietnamnet": (
        page(
            "Thời sự",
            TITLE,
            "Thứ Năm, 30/01/2025 - 12:24",
            P1,
            P2,
            ">> " + RELATED[0],
            P3,
            P4,
            "Minh Anh",
            "Từ khóa:",
            "cầu Cần Thơ",
            "sông Hậu",
            "Bình luận (0)",
            "Gửi bình luận",
        ),
        [P1, P2, P3, P4],
        {"title": TITLE, "section": "Thời sự", "created": "2025-01-30T12:24:00", "author": "Minh Anh"},
    ),
    "vov": (
        page(
            TITLE, "VOV.VN - " + P1, "0:00 / 2:41", "1x", P2, P3, "PV/VOV-Cần Thơ", "Tin liên quan", *RELATED
        ),
        ["VOV.VN - " + P1, P2, P3],
        {"title": TITLE, "author": "PV"},
    ),
    "baochinhphu": (
        page(
            TITLE,
            "(Chinhphu.vn) - " + P1,
            P2,
            "Ảnh: VGP/Nhật Bắc",
            P3,
            "Minh Anh",
            "Chia sẻ",
            "Copy link",
            "Tin mới nhất",
            *RELATED,
        ),
        ["(Chinhphu.vn) - " + P1, P2, P3],
        {"title": TITLE, "author": "Minh Anh"},
    ),
    "nld": (
        page(
            TITLE,
            "(NLĐO) - " + P1,
            P2,
            SUB,
            P3,
            "Nhóm PV",
            "Đăng ký nhận tin",
            "Ý kiến của bạn",
            "Họ tên",
            "Email của bạn",
            "Gửi",
        ),
        ["(NLĐO) - " + P1, P2, SUB, P3],
        {"title": TITLE, "author": "Nhóm PV"},
    ),
    "laodong": (
        page(
            "Thứ Hai, 12/05/2025",
            "Hà Nội 31°C",
            TITLE,
            "Minh Anh",
            "Thứ năm, 30/01/2025 08:05 (GMT+7)",
            P1,
            P2,
            P3,
            "Tải ứng dụng Báo Lao Động",
            "Tin mới nhất",
            RELATED[0],
            "2 giờ trước",
            RELATED[1],
            "3 giờ trước",
        ),
        [P1, P2, P3],
        {"title": TITLE, "created": "2025-01-30T08:05:00+07:00", "author": "Minh Anh"},
    ),
    "cafef": (
        page(
            TITLE,
            "30-01-2025 - 12:24 PM | Kinh tế vĩ mô",
            P1,
            P2,
            P3,
            "Theo Nhịp sống kinh tế",
            "Cùng chuyên mục",
            RELATED[0],
            SUMMARY,
        ),
        [P1, P2, P3],
        {"title": TITLE, "source_attribution": "Nhịp sống kinh tế"},
    ),
    "zing": (
        page(
            TITLE,
            "Tác giả: Lê Chi",
            "Thứ năm, 30/1/2025 12:24 (GMT+7)",
            P1,
            CAPTION,
            P2,
            P3,
            "Bạn có thể quan tâm",
            *RELATED,
        ),
        [P1, CAPTION, P2, P3],
        {"title": TITLE, "author": "Lê Chi", "created": "2025-01-30T12:24:00+07:00"},
    ),
    "bbc": (
        page(
            EN_TITLE,
            "2 hours ago",
            "Share",
            "Save",
            "Jane Doe",
            "BBC News",
            E1,
            "Image source, Getty Images",
            EN_CAPTION,
            E2,
            E3,
            "Related topics",
            "London",
            "Parks",
        ),
        [E1, EN_CAPTION, E2, E3],
        {"title": EN_TITLE, "author": "Jane Doe"},
    ),
    "reuters": (
        page(
            EN_TITLE,
            "By Jane Doe",
            "February 3, 2025 3:15 PM GMT+7 Updated 2 hours ago",
            E1,
            "Advertisement · Scroll to continue",
            E2,
            E3,
            "Reporting by Jane Doe in London; Editing by John Roe",
            "Our Standards: The Thomson Reuters Trust Principles.",
        ),
        [E1, E2, E3],
        {"title": EN_TITLE, "author": "Jane Doe", "created": "2025-02-03T15:15:00+07:00"},
    ),
    "ap": (
        page(
            EN_TITLE,
            "By JANE DOE",
            "Updated 3:15 PM GMT+7, February 3, 2025",
            "Share",
            "Copy Link copied",
            "Email",
            "Facebook",
            "X",
            "Reddit",
            "LinkedIn",
            "Pinterest",
            "Flipboard",
            "Print",
            E1,
            E2,
            "___",
            E3,
            "Associated Press writer John Roe contributed to this report.",
        ),
        [E1, E2, E3],
        {"title": EN_TITLE, "author": "JANE DOE", "created": "2025-02-03T15:15:00+07:00"},
    ),
    "guardian": (
        page(
            EN_TITLE,
            "Jane Doe in London",
            "Mon 3 Feb 2025 15.15 GMT",
            "Share",
            E1,
            E2,
            "Sign up to First Edition, our free daily newsletter",
            E3,
            "Explore more on these topics",
            "Parks",
            "London",
            "Reuse this content",
            "Most viewed",
        ),
        [E1, E2, E3],
        {"title": EN_TITLE, "author": "Jane Doe", "created": "2025-02-03T15:15:00+00:00"},
    ),
}


@pytest.mark.parametrize("site", sorted(SITES))
def test_site_layout_leaves_the_article_and_its_metadata(site):
    dump, body, meta = SITES[site]
    doc = clean(dump)
    assert kept(doc) == body
    for key, value in meta.items():
        assert doc.metadata.get(key) == value, (key, doc.metadata)
    assert all(r.rule for r in doc.removed)
