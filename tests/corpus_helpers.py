"""Small generated corpora and ways to run newsclean on them (shared by the scheduled-run tests)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EPOCH = "1767225600"  # SOURCE_DATE_EPOCH: same `added` in every run, so records compare whole

SENTENCES = [
    "Ủy ban nhân dân thành phố đã tổ chức hội nghị tổng kết công tác năm với sự tham dự của nhiều đại biểu.",
    "Lãnh đạo thành phố đánh giá cao những kết quả đạt được và chỉ ra những hạn chế cần khắc phục.",
    "Theo báo cáo, tổng thu ngân sách trên địa bàn tăng mạnh so với cùng kỳ năm trước.",
    "Nhiều công trình trọng điểm được khởi công và hoàn thành đúng tiến độ đề ra trong năm nay.",
    "Ngành giáo dục tiếp tục đổi mới chương trình, nâng cao chất lượng dạy và học ở các cấp.",
    "Người dân phấn khởi khi hệ thống giao thông nông thôn được đầu tư đồng bộ và hiện đại hơn.",
    "Các doanh nghiệp trên địa bàn mở rộng sản xuất, tạo thêm hàng nghìn việc làm cho lao động.",
    "Công tác phòng chống thiên tai được triển khai sớm, chủ động với phương châm bốn tại chỗ.",
]


def article(i: int) -> str:
    """A Vietnamese news page (title + three paragraphs) that passes the default filters; distinct per i."""
    # the article's number after every 4th word: pages share no word 5-gram, so near_dedup
    # sees them as distinct articles (only the `dup_of` copies are duplicates)
    picks = [
        " ".join(
            w if n % 4 != 3 else f"{w} {i}" for n, w in enumerate(SENTENCES[(i + k) % len(SENTENCES)].split())
        )
        for k in range(6)
    ]
    body = (
        f"Bài viết số {i} ghi nhận tình hình kinh tế xã hội của tỉnh trong tháng {i % 12 + 1}. "
        f"{picks[0]} {picks[1]}\n\n{picks[2]} {picks[3]}\n\n{picks[4]} {picks[5]} Mã tin {i * 7919}."
    )
    return f"Tin tức tổng hợp số {i} về địa phương\n\n{body}\n"


def write_articles(directory: Path, numbers, dup_of: dict | None = None) -> list[Path]:
    """One page dump per number; `dup_of` maps a number to another whose body it copies (an exact duplicate)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in numbers:
        text = article((dup_of or {}).get(i, i))
        if dup_of and i in dup_of:  # another title, the same body
            text = f"Tiêu đề khác của bài {i}\n\n" + text.split("\n\n", 1)[1]
        path = directory / f"page-{i:03d}.txt"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def small_config(tmp: Path, **run_options) -> Path:
    """config/default.yaml with small tasks and shards (several of each on a few pages), one worker."""
    text = (ROOT / "config" / "default.yaml").read_text(encoding="utf-8")
    options = {"task_size": 2, "shard_size": 3, "workers": 1, "progress": "'off'", **run_options}
    for key, value in options.items():
        text, n = re.subn(rf"(?m)^(  {key}:)\s*\S+", rf"\g<1> {value}", text)
        assert n == 1, key
    # a copy of the whole config dir, so every path relative to the config file (rules, profiles) resolves
    directory = tmp / "nc-config"
    shutil.copytree(ROOT / "config", directory, dirs_exist_ok=True)
    path = directory / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def run_cli(
    config: Path, inputs: Path, output: Path, *extra: str, env: dict | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """`python -m pipeline run` in a subprocess (so it can be killed), with a fixed SOURCE_DATE_EPOCH."""
    full_env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, **(env or {})}
    for name in ("NEWSCLEAN_TEST_KILL_AT", "NEWSCLEAN_TEST_WAIT_AT"):
        if env is None or name not in env:
            full_env.pop(name, None)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "-c",
            str(config),
            "-i",
            str(inputs),
            "-o",
            str(output),
            "-q",
            *extra,
        ],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def corpus_view(output: Path) -> list[dict]:
    """Every kept record of the corpus (finished runs, superseded records left out), sorted by id."""
    from pipeline.corpus import iter_kept

    return sorted((record for _run, record in iter_kept(output)), key=lambda r: r["id"])


def store_rows(output: Path) -> list[tuple]:
    """The processed-inputs store as (path, size, hash), without the run ids (they differ between corpora)."""
    import sqlite3

    path = output / "state" / "inputs.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        return sorted(db.execute("SELECT key, size, xxh3_128 FROM inputs"))
