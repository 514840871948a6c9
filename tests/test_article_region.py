"""The text path on full-page dumps of a site the rules never saw: the article found by the line
model, the page around it removed with reasons, metadata from the header, non-articles dropped,
template lines found across pages of one source."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from clean_helpers import CONFIG_DIR, P1, P2, P3, P4, ROOT

from pipeline.document import Document
from pipeline.registry import step_class
from pipeline.s3_clean.line_model import MODEL_PATH, load_model

TITLE = "Khánh thành tuyến đường ven biển nối hai tỉnh miền Trung sau ba năm thi công"
LEAD = (
    "Tuyến đường ven biển dài 48 km được đưa vào sử dụng, rút ngắn một nửa thời gian đi lại giữa "
    "hai tỉnh và mở ra hướng phát triển du lịch mới cho cả vùng."
)
P5 = (
    "Theo kế hoạch, giai đoạn hai của dự án sẽ được khởi công vào cuối năm nay, nối tiếp tuyến đường "
    "tới các khu kinh tế ven biển phía nam."
)
SUBHEAD = "Mở lối cho du lịch biển"
MENU = [
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
]
HEADLINES = [
    (
        "Giá vàng hôm nay tăng mạnh phiên đầu tuần",
        "Giá vàng miếng trong nước tăng thêm 500.000 đồng mỗi lượng ngay khi mở cửa phiên sáng nay...",
    ),
    (
        "Hà Nội mở thêm ba tuyến xe buýt điện",
        "Ba tuyến mới đi qua nhiều khu đô thị lớn ở phía tây thành phố...",
    ),
    (
        "Học sinh cả nước bước vào kỳ thi cuối cấp",
        "Hơn một triệu thí sinh làm bài thi môn Ngữ văn sáng nay...",
    ),
    ("Mưa lớn kéo dài ở các tỉnh Tây Nguyên", "Cơ quan khí tượng cảnh báo nguy cơ lũ quét và sạt lở đất..."),
    ("Xuất khẩu nông sản đạt kỷ lục mới", "Kim ngạch xuất khẩu rau quả trong 10 tháng vượt mốc 6 tỷ USD..."),
]
FOOTER = [
    "Cơ quan chủ quản: Công ty Cổ phần Truyền thông Biển Xanh",
    "Giấy phép số 123/GP-BTTTT do Bộ Thông tin và Truyền thông cấp",
    "Địa chỉ: 12 Nguyễn Du, Hà Nội. Điện thoại: 024 1234 5678",
    "© Bản quyền thuộc về Báo Biển Xanh",
]


def full_page(title=TITLE, body=(LEAD, P1, SUBHEAD, P2, P3, P4, P5), with_footer_note=None) -> str:
    """A page rendered the way w3m dumps it: blocks separated by blank lines, list items as '  • x'."""
    blocks = [
        "Báo Biển Xanh",
        "\n".join(f"  • {m}" for m in MENU),
        "Trang chủ > Thời sự > Giao thông",
        title,
        "Thứ Ba, 12/11/2024 - 08:30",
        "Lê Minh Hoàng",
        "Chia sẻ Facebook Zalo",
    ]
    blocks += list(body)
    if with_footer_note:
        blocks.append(with_footer_note)
    blocks.append("Lê Minh Hoàng")
    blocks.append("Tin liên quan")
    blocks += [f"{h}\n\n{s}" for h, s in HEADLINES]
    blocks.append("Đọc nhiều nhất")
    blocks.append("\n".join(f"{n}. {h}" for n, (h, _) in enumerate(HEADLINES, 1)))
    blocks += FOOTER
    return "\n\n".join(blocks) + "\n"


def home_page() -> str:
    blocks = ["Báo Biển Xanh", "\n".join(f"  • {m}" for m in MENU), "Tin mới nhất"]
    for rep in range(4):
        blocks += [f"{h} ({rep})\n\n{s}" for h, s in HEADLINES]
    blocks += FOOTER
    return "\n\n".join(blocks) + "\n"


def run_steps(
    text: str,
    names=("article_region", "template_lines", "clean_lines", "dump_metadata", "repeated_lines", "normalize"),
) -> Document:
    doc = Document(id="page", text=text)
    docs = iter([doc])
    for name in names:
        step = step_class(name)(
            {"rules": ["rules/vi.yaml", "rules/en.yaml"]}
            if name in ("clean_lines", "dump_metadata", "article_region")
            else {},
            {"config_dir": str(CONFIG_DIR)},
        )
        docs = step.run(docs)
    return next(docs)


def test_model_ships_in_the_package_and_loads_without_network():
    assert MODEL_PATH.parent.name == "s3_clean" and MODEL_PATH.exists()
    model = load_model()
    assert model.w1.shape[0] == len(model.mean) and model.predict(model.mean[None, :]).shape == (1,)
    # packaged with the wheel, not only present in the repository
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "line_model.json" in pyproject


def test_unseen_site_page_keeps_the_article_and_says_why_the_rest_went():
    doc = run_steps(full_page())
    assert not doc.dropped, doc.drop_detail
    kept = [p for p in doc.text.split("\n\n") if p.strip()]
    assert kept == [LEAD, P1, SUBHEAD, P2, P3, P4, P5]
    reasons = {r.text: r.rule for r in doc.removed}
    assert reasons["• Thời sự"] == "menu" and reasons["• Khoa học"] == "menu"
    assert reasons["Trang chủ > Thời sự > Giao thông"] == "breadcrumb"
    assert reasons[HEADLINES[2][0]] in ("headline_list", "outside_article", "related_list")
    assert reasons[FOOTER[1]] in ("outside_article", "headline_list")
    assert reasons["Lê Minh Hoàng"] in ("byline", "author_signature")
    removed_by_model = [r for r in doc.removed if r.rule in ("menu", "outside_article", "headline_list")]
    assert all("line_model.json p=" in r.source for r in removed_by_model)
    meta = doc.metadata
    assert meta["title"] == TITLE
    assert meta["created"].startswith("2024-11-12T08:30")
    assert meta["author"] == "Lê Minh Hoàng"
    assert meta["section"] == "Giao thông"


def test_home_page_is_not_an_article():
    doc = run_steps(home_page())
    assert doc.dropped and doc.drop_reason == "not_article", (doc.drop_reason, doc.text[:300])


def test_extractor_text_is_left_to_the_rules():
    doc = Document(id="x", text="\n".join([P1, P2, P3]), provenance={"extractor": "trafilatura"})
    step = step_class("article_region")({}, {"config_dir": str(CONFIG_DIR)})
    out = next(step.run(iter([doc])))
    assert out.text == "\n".join([P1, P2, P3]) and not out.removed


def _write_site(folder: Path, articles: list[tuple[str, tuple[str, ...]]], note: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n, (title, body) in enumerate(articles):
        (folder / f"page{n}.txt").write_text(full_page(title, body, with_footer_note=note), encoding="utf-8")


ARTICLES = [
    (TITLE, (LEAD, P1, P2, P3)),
    (
        "Thành phố khai trương bến xe buýt điện đầu tiên ở cửa ngõ phía tây",
        (
            "Bến xe buýt điện đầu tiên của thành phố chính thức hoạt động từ sáng nay với 30 xe chạy trên bốn tuyến.",
            "Mỗi xe được sạc đầy trong khoảng hai giờ và có thể chạy hơn 200 km trong điều kiện giao thông đô thị.",
            "Hành khách cho biết xe chạy êm, sạch sẽ và giá vé không thay đổi so với các tuyến xe buýt thông thường.",
        ),
    ),
    (
        "Nông dân miền Tây trúng mùa lúa thu đông nhờ thời tiết thuận lợi",
        (
            "Vụ lúa thu đông năm nay cho năng suất bình quân hơn sáu tấn mỗi héc-ta, cao nhất trong năm năm qua.",
            "Thương lái đến tận ruộng thu mua với giá ổn định, giúp nhiều hộ nông dân có lãi gần gấp đôi năm ngoái.",
            "Ngành nông nghiệp khuyến cáo bà con vệ sinh đồng ruộng sớm để chuẩn bị cho vụ đông xuân sắp tới.",
        ),
    ),
    (
        "Trường học vùng cao đón học sinh trở lại sau đợt mưa lũ kéo dài",
        (
            "Sau gần hai tuần nghỉ học vì mưa lũ, hơn 800 học sinh của huyện vùng cao đã trở lại lớp từ đầu tuần.",
            "Giáo viên và phụ huynh cùng nhau dọn dẹp bùn đất, sửa lại bàn ghế và phơi khô sách vở cho các em.",
            "Chính quyền địa phương hỗ trợ gạo và đồ dùng học tập cho những gia đình bị thiệt hại nặng nhất.",
        ),
    ),
]
NOTE = "Bạn đọc có thể gửi thông tin, bài viết về hòm thư của Ban Thời sự, Báo Biển Xanh."


def _kept_records(out: Path) -> list[dict]:
    import gzip

    records = []
    for shard in sorted(out.glob("runs/*/part-*.jsonl.gz")):
        with gzip.open(shard, "rt", encoding="utf-8") as fh:
            records += [json.loads(line) for line in fh]
    return sorted(records, key=lambda r: r["id"])


def _run(inputs: Path, out: Path, workers: int) -> list[dict]:
    folder = out.parent / f"config-{out.name}"  # the shipped config with template_lines switched on
    shutil.copytree(CONFIG_DIR, folder)
    config = folder / "default.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("    enabled: false\n    min_docs: 2", "    min_docs: 2"), encoding="utf-8"
    )
    assert config.read_text(encoding="utf-8") != text
    cmd = [
        sys.executable,
        "-m",
        "pipeline",
        "run",
        "-c",
        str(config),
        "-i",
        str(inputs),
        "-o",
        str(out),
        "-w",
        str(workers),
        "-q",
    ]
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True)
    return _kept_records(out)


def test_template_line_found_across_pages_of_one_source(tmp_path):
    _write_site(tmp_path / "in", ARTICLES, NOTE)
    records = _run(tmp_path / "in", tmp_path / "out", 1)
    assert len(records) == 4
    for r in records:
        assert NOTE not in r["text"]
        removed = r["metadata"]["removed"]
        counts = {x["rule"]: x["n"] for x in removed} if isinstance(removed, list) else removed
        assert counts.get("template_line", 0) >= 1


def test_copies_of_one_article_do_not_make_its_paragraphs_template():
    step = step_class("template_lines")({}, {})
    base = full_page(TITLE, (LEAD, P1, "Ảnh: Minh Hoàng", P2, P3))
    docs = [Document(id=f"copy{n}", text=base) for n in range(4)]
    out = list(step.run(iter(docs)))
    for doc in out:
        assert "Ảnh: Minh Hoàng" in doc.text and LEAD in doc.text


@pytest.mark.slow
@pytest.mark.parametrize("workers", [2])
def test_same_output_for_one_and_two_workers(tmp_path, workers):
    _write_site(tmp_path / "in", ARTICLES * 2, NOTE)
    one = _run(tmp_path / "in", tmp_path / "out1", 1)
    two = _run(tmp_path / "in", tmp_path / "out2", workers)
    strip = [{k: v for k, v in r.items() if k != "added"} for r in one]
    assert strip == [{k: v for k, v in r.items() if k != "added"} for r in two]


@pytest.mark.parametrize(
    "line, rule",
    [
        ("[tp-2]", "image_filename"),  # an image without alt text, as w3m prints it
        (f"{TITLE} - Ảnh 2.", "image_alt"),
        (f"{TITLE}- Ảnh 1.", "image_alt"),
    ],
)
def test_image_names_and_alt_text_are_removed_by_their_rules(line, rule):
    doc = run_steps("\n\n".join([LEAD, P1, line, P2]), names=("clean_lines",))
    assert [(r.rule, r.text) for r in doc.removed] == [(rule, line)]


def test_caption_with_a_credit_is_kept():
    caption = "Người dân đi lại trên tuyến đường mới. Ảnh: Minh Hoàng"
    doc = run_steps("\n\n".join([LEAD, P1, caption, P2]), names=("clean_lines",))
    assert not doc.removed
