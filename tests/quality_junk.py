"""Generators of junk documents for the quality tests, in Vietnamese and English.

Each kind is a function `(rng, lang) -> text` producing a page that passes the
length filter (>= 30 words, >= 200 characters) but is not prose worth training on.
Text comes out as the pipeline writes it: paragraphs separated by a blank line.
"""

from __future__ import annotations

import random

# --- small pools of real-looking material (no shared data needed) ---------------------

PROSE = {
    "vi": [
        "Thủ tướng yêu cầu các bộ, ngành và địa phương khẩn trương hoàn thiện hồ sơ dự án trước cuối tháng này.",
        "Theo báo cáo của Sở Giao thông vận tải, lượng phương tiện qua cửa ngõ phía nam tăng mạnh trong dịp nghỉ lễ.",
        "Người dân ở các xã ven biển đã được hướng dẫn di chuyển đến nơi an toàn trước khi bão đổ bộ.",
        "Giá xăng dầu trong nước được điều chỉnh tăng nhẹ từ chiều nay sau khi giá thế giới biến động mạnh.",
        "Đội tuyển Việt Nam sẽ có buổi tập cuối cùng tại sân vận động Mỹ Đình trước trận đấu quan trọng.",
        "Cơ quan công an đang điều tra làm rõ nguyên nhân vụ tai nạn khiến hai người bị thương nặng.",
        "Các chuyên gia cho rằng thị trường bất động sản sẽ phục hồi chậm trong nửa cuối năm nay.",
        "Bộ Giáo dục và Đào tạo vừa công bố lịch thi tốt nghiệp trung học phổ thông năm 2024.",
        "Ông cho biết chính quyền địa phương đã hỗ trợ kinh phí để sửa chữa những ngôi nhà bị hư hỏng.",
        "Nhiều doanh nghiệp xuất khẩu thủy sản gặp khó khăn do đơn hàng từ thị trường châu Âu giảm.",
        "Bệnh viện đã huy động các bác sĩ giỏi nhất để hội chẩn và cứu chữa cho bệnh nhân.",
        "Theo kế hoạch, công trình cầu vượt sẽ được đưa vào sử dụng trước Tết Nguyên đán.",
    ],
    "en": [
        "The minister said the government would publish its full budget plan before the end of the month.",
        "Traffic on the main roads into the city rose sharply over the holiday weekend, officials said.",
        "Residents of coastal villages were told to move to safer ground before the storm made landfall.",
        "Fuel prices went up slightly this afternoon after a week of sharp swings on world markets.",
        "The national team will hold its final training session at the stadium before the key match.",
        "Police are investigating the cause of the crash, which left two people seriously injured.",
        "Analysts expect the housing market to recover only slowly in the second half of the year.",
        "The education ministry has announced the dates of this year's high school graduation exams.",
        "He said the local council had paid for repairs to the houses that were damaged in the flood.",
        "Many seafood exporters are struggling as orders from European buyers continue to fall.",
        "The hospital brought in its most experienced doctors to treat the patient overnight.",
        "Under the plan, the new overpass will open to traffic before the end of the year.",
    ],
}

MENU = {
    "vi": [
        "Trang chủ",
        "Thời sự",
        "Thế giới",
        "Kinh doanh",
        "Giải trí",
        "Thể thao",
        "Pháp luật",
        "Giáo dục",
        "Sức khỏe",
        "Đời sống",
        "Du lịch",
        "Khoa học",
        "Số hóa",
        "Xe",
        "Ý kiến",
        "Tâm sự",
        "Video",
        "Podcast",
        "Bất động sản",
        "Chứng khoán",
        "Ẩm thực",
        "Công nghệ",
        "Đăng nhập",
        "Đăng ký",
        "Liên hệ",
        "Quảng cáo",
        "Điều khoản sử dụng",
        "Chính sách bảo mật",
        "RSS",
        "Tìm kiếm",
        "Tin mới nhất",
        "Tin nóng",
        "Media",
        "Góc nhìn",
        "Bạn đọc",
        "Tòa soạn",
        "Giới thiệu",
        "Đặt báo",
        "Mới nhất",
        "Xem nhiều",
    ],
    "en": [
        "Home",
        "World",
        "Business",
        "Politics",
        "Tech",
        "Science",
        "Health",
        "Sport",
        "Entertainment",
        "Opinion",
        "Video",
        "Podcasts",
        "Subscribe",
        "Sign in",
        "Register",
        "Newsletters",
        "Contact us",
        "Privacy policy",
        "Terms of use",
        "About us",
        "Careers",
        "Advertise",
        "Weather",
        "Markets",
        "Travel",
        "Culture",
        "Style",
        "Lifestyle",
        "Climate",
        "Latest",
        "Most read",
        "Search",
        "Sitemap",
        "RSS",
        "Cookie settings",
        "Help",
        "Live",
        "Education",
        "Local",
        "Obituaries",
    ],
}

SUBJECTS = {
    "vi": [
        "Hà Nội",
        "TP.HCM",
        "Đà Nẵng",
        "Bộ Tài chính",
        "Ngân hàng Nhà nước",
        "Đội tuyển Việt Nam",
        "Chủ tịch tỉnh",
        "Giá vàng",
        "Giá xăng",
        "Thị trường chứng khoán",
        "Học sinh lớp 12",
        "Nông dân miền Tây",
        "Cảnh sát giao thông",
        "Bão số 3",
        "Sân bay Long Thành",
        "Ca sĩ nổi tiếng",
        "Người dân vùng lũ",
        "Doanh nghiệp Việt",
    ],
    "en": [
        "City council",
        "The central bank",
        "The prime minister",
        "Oil prices",
        "Tech giant",
        "Local police",
        "The national team",
        "Farmers",
        "Hospital staff",
        "Storm Ellen",
        "A new airport",
        "Pop star",
        "Flood victims",
        "Small businesses",
        "Students",
        "The stock market",
        "Rail workers",
        "Lawmakers",
    ],
}
PREDICATES = {
    "vi": [
        "tăng mạnh trong phiên sáng nay",
        "lên tiếng về vụ việc gây xôn xao",
        "bất ngờ giảm sâu",
        "đề xuất phương án mới",
        "chính thức khởi công",
        "giành chiến thắng kịch tính",
        "cảnh báo nguy cơ",
        "công bố kết quả điều tra",
        "lập kỷ lục mới",
        "gặp sự cố nghiêm trọng",
        "chờ quyết định cuối cùng",
        "được hỗ trợ khẩn cấp",
        "tiếp tục lập đỉnh",
        "đối mặt khó khăn chồng chất",
    ],
    "en": [
        "surges in early trading",
        "speaks out over row",
        "falls to record low",
        "unveils new plan",
        "breaks ground on project",
        "wins thriller",
        "warns of rising risk",
        "publishes inquiry findings",
        "sets new record",
        "hit by major outage",
        "awaits final ruling",
        "gets emergency support",
        "hits fresh high",
        "faces mounting problems",
    ],
}
TIMES = {
    "vi": [
        "2 giờ trước",
        "35 phút trước",
        "Hôm qua 08:30",
        "12/03/2024 14:05",
        "1 ngày trước",
        "Thứ hai, 4/3/2024",
    ],
    "en": [
        "2 hours ago",
        "35 minutes ago",
        "Yesterday 08:30",
        "12 March 2024",
        "1 day ago",
        "Mon 4 Mar 2024",
    ],
}
SHARE = {
    "vi": [
        "Chia sẻ",
        "Facebook",
        "Zalo",
        "Twitter",
        "Email",
        "Sao chép liên kết",
        "In bài viết",
        "Lưu bài",
        "Bình luận (0)",
        "Thích",
        "Theo dõi",
        "Báo lỗi",
        "Gửi bài viết",
        "Tags:",
        "Chia sẻ bài viết",
        "Quay lại",
        "Đầu trang",
        "Xem thêm",
        "Lưu",
    ],
    "en": [
        "Share",
        "Facebook",
        "Twitter",
        "LinkedIn",
        "WhatsApp",
        "Email",
        "Copy link",
        "Print",
        "Save",
        "Comments (0)",
        "Like",
        "Follow",
        "Report an error",
        "Tags:",
        "Share this article",
        "Back to top",
        "Read more",
        "Reddit",
    ],
}
NAMES = {
    "vi": ["Nguyễn Văn An", "Trần Thị Bình", "Lê Minh Châu", "Phạm Quốc Dũng", "Hoàng Thu Hà", "Vũ Đức Huy"],
    "en": ["John Smith", "Mary Jones", "David Brown", "Sarah Wilson", "James Taylor", "Emma Davies"],
}
BYLINE = {
    "vi": [
        "Bài và ảnh: {name}",
        "Theo {name} / VnExpress",
        "{name} - {time}",
        "PV {name}",
        "{name} (tổng hợp)",
        "Cập nhật: {time}",
        "Nguồn: Tuổi Trẻ",
        "Ảnh: {name}",
        "Thực hiện: {name}",
    ],
    "en": [
        "By {name}",
        "{name} | {time}",
        "Reporting by {name}; editing by {name}",
        "Photo: {name}",
        "Updated {time}",
        "Published {time}",
        "Source: Reuters",
        "{name}, Staff writer",
        "Words by {name}",
    ],
}
SPAM = {
    "vi": [
        "Mua bán nhà đất giá rẻ liên hệ ngay 0912 345 678",
        "Vay tiền nhanh không cần thế chấp, duyệt trong 5 phút",
        "Click vào đây để nhận quà tặng miễn phí",
        "Thuốc tăng cân hiệu quả nhất hiện nay",
    ],
    "en": [
        "Buy cheap watches online now best prices guaranteed",
        "Click here to claim your free prize today",
        "Fast loans with no credit check approved in minutes",
        "Best weight loss pills that really work",
    ],
}
LOREM = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et "
    "dolore magna aliqua ut enim ad minim veniam quis nostrud exercitation ullamco laboris nisi ut aliquip ex "
    "ea commodo consequat duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu "
    "fugiat nulla pariatur excepteur sint occaecat cupidatat non proident sunt in culpa qui officia deserunt "
    "mollit anim id est laborum"
).split()


def _paras(parts: list[str]) -> str:
    return "\n\n".join(p for p in parts if p)


def _sentence(rng: random.Random, words: list[str], lo: int = 6, hi: int = 16, end: str = ".") -> str:
    picked = [rng.choice(words) for _ in range(rng.randint(lo, hi))]
    return (" ".join(picked).capitalize() + end) if picked else ""


# --- the kinds ------------------------------------------------------------------------


def navigation(rng: random.Random, lang: str) -> str:
    """A menu, breadcrumbs and footer links: one item a line, or runs joined by separators."""
    items = rng.sample(MENU[lang], rng.randint(22, 36))
    style = rng.choice(["lines", "pipes", "mixed"])
    if style == "lines":
        return _paras(items)
    sep = rng.choice([" | ", " » ", " · ", " / ", " - "])
    chunks, i = [], 0
    while i < len(items):
        n = rng.randint(3, 8) if style == "pipes" else rng.randint(1, 4)
        chunks.append(sep.join(items[i : i + n]))
        i += n
    return _paras(chunks)


def headline(rng: random.Random, lang: str) -> str:
    return f"{rng.choice(SUBJECTS[lang])} {rng.choice(PREDICATES[lang])}"


def headline_listing(rng: random.Random, lang: str) -> str:
    """A section page: headlines, each maybe with a time stamp, a section tag or a cut teaser."""
    parts = []
    style = rng.choice(["plain", "timed", "teaser"])
    for _ in range(rng.randint(10, 20)):
        parts.append(headline(rng, lang))
        if style == "timed":
            parts.append(rng.choice(TIMES[lang]))
        elif style == "teaser" and rng.random() < 0.7:
            parts.append(rng.choice(PROSE[lang])[: rng.randint(40, 80)].rstrip() + "...")
    return _paras(parts)


def repeated_spam(rng: random.Random, lang: str) -> str:
    """The same line (or two or three) over and over, sometimes with a little variation."""
    pool = SPAM[lang] + PROSE[lang]
    lines = rng.sample(pool, rng.randint(1, 3))
    style = rng.choice(["paragraphs", "one_block", "numbered"])
    reps = rng.randint(8, 20)
    out = [lines[i % len(lines)] for i in range(reps * len(lines))]
    if style == "numbered":
        out = [f"{i + 1}. {line}" for i, line in enumerate(out)]
    if style == "one_block":
        return " ".join(out)
    return _paras(out)


def word_salad(rng: random.Random, lang: str) -> str:
    """Words in random order: from a vocabulary, or a shuffled page keeping word frequencies."""
    vocab = sorted(
        {w.strip(".,").lower() for s in PROSE[lang] + MENU[lang] + SUBJECTS[lang] for w in s.split()}
    )
    style = rng.choice(["uniform", "sentences", "shuffled_prose"])
    if style == "uniform":
        words = [rng.choice(vocab) for _ in range(rng.randint(60, 200))]
        n = rng.randint(1, 4)
        step = len(words) // n + 1
        return _paras([" ".join(words[i : i + step]) for i in range(0, len(words), step)])
    if style == "sentences":
        return _paras(
            [
                " ".join(_sentence(rng, vocab) for _ in range(rng.randint(2, 5)))
                for _ in range(rng.randint(3, 6))
            ]
        )
    tokens = " ".join(rng.choice(PROSE[lang]) for _ in range(12)).replace(".", "").split()
    rng.shuffle(tokens)
    words = [w.lower() for w in tokens]
    out, i = [], 0
    while i < len(words):
        n = rng.randint(8, 18)
        out.append(" ".join(words[i : i + n]).capitalize() + ".")
        i += n
    return _paras([" ".join(out[j : j + 4]) for j in range(0, len(out), 4)])


def mojibake(rng: random.Random, lang: str) -> str:
    """UTF-8 read with the wrong code page (or with its bytes lost to '?')."""
    text = _paras([" ".join(rng.sample(PROSE[lang], 3)) for _ in range(rng.randint(3, 5))])
    if lang == "en":  # English mojibake shows in its quotes, dashes and accented names
        text = (
            text.replace("'", "\u2019").replace("the ", "the \u201cnew\u201d ", 3) + " \u2014 Café Société."
        )
    style = rng.choice(["cp1252", "latin-1", "lost"]) if lang == "vi" else rng.choice(["cp1252", "double"])
    if style == "lost":
        return text.encode("ascii", "replace").decode("ascii")
    once = text.encode("utf-8").decode("latin-1" if style == "latin-1" else "cp1252", "replace")
    return once.encode("utf-8").decode("cp1252", "replace") if style == "double" else once


def lorem_ipsum(rng: random.Random, lang: str) -> str:
    """Placeholder text, sometimes under a real-looking headline."""
    paras = [
        " ".join(_sentence(rng, LOREM, 6, 14) for _ in range(rng.randint(3, 6)))
        for _ in range(rng.randint(2, 5))
    ]
    if rng.random() < 0.5:
        paras.insert(0, headline(rng, lang))
    return _paras(paras)


def bylines_share(rng: random.Random, lang: str) -> str:
    """What is left of a page whose article was not extracted: bylines, dates, share buttons."""
    parts = []
    for _ in range(rng.randint(14, 26)):
        if rng.random() < 0.45:
            parts.append(
                rng.choice(BYLINE[lang]).format(name=rng.choice(NAMES[lang]), time=rng.choice(TIMES[lang]))
            )
        else:
            parts.append(rng.choice(SHARE[lang]))
    if rng.random() < 0.5:
        parts = [" ".join(parts[i : i + 3]) for i in range(0, len(parts), 3)]
    return _paras(parts)


KINDS = {
    "navigation": navigation,
    "headline_listing": headline_listing,
    "repeated_spam": repeated_spam,
    "word_salad": word_salad,
    "mojibake": mojibake,
    "lorem_ipsum": lorem_ipsum,
    "bylines_share": bylines_share,
}


def junk_set(seed: int = 9, per_kind: int = 24) -> list[tuple[str, str, str]]:
    """[(kind, lang, text)]: `per_kind` documents of every kind in each language, long enough
    to pass the length filter."""
    rng = random.Random(seed)
    out = []
    for kind, make in KINDS.items():
        for lang in ("vi", "en"):
            made = 0
            while made < per_kind:
                text = make(rng, lang)
                if len(text) >= 200 and len(text.split()) >= 30:
                    out.append((kind, lang, text))
                    made += 1
    return out
