"""near_dedup: datasketch-identical signatures, folding of Unicode/tone variants, exact
verification, the keep rule, dup_of, and the persistent index across runs."""

from __future__ import annotations

import gzip
import json
import random
import re
import sqlite3
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from clean_helpers import SHARED
from datasketch import MinHash
from datasketch.hashfunc import sha1_hash32

from pipeline.document import Document
from pipeline.s6_dedup import shingles as sh
from pipeline.s6_dedup.lsh import candidate_probability, choose_banding, pairs_against, pairs_within
from pipeline.s6_dedup.minhash import MERSENNE_PRIME, MinHasher, permutations
from pipeline.s6_dedup.near import NearDedup
from pipeline.step import DocRef

WORDS = (
    "người dân thành phố hội nghị kinh tế xã hội phát triển bền vững chính sách giáo dục "
    "đầu tư giao thông nông thôn doanh nghiệp sản xuất lao động việc làm thiên tai phòng chống "
    "ngân sách công trình tiến độ chất lượng dịch vụ y tế bệnh viện học sinh sinh viên thủy lợi "
    "hòa bình khỏe mạnh quốc tế hợp tác thương mại xuất khẩu nhập khẩu nông sản giá cả thị trường"
).split()


def article(seed: int, n_words: int = 160) -> str:
    """Distinct pseudo-articles: random word sequences share (almost) no 5-gram."""
    rng = random.Random(seed)
    words = [rng.choice(WORDS) for _ in range(n_words)]
    paras = [" ".join(words[i : i + 40]) + "." for i in range(0, n_words, 40)]
    return "\n\n".join(p[0].upper() + p[1:] for p in paras)


def texts_for_signatures() -> list[str]:
    texts = [article(i) for i in range(5)] + [
        "",
        "một",
        "hai ba bốn",
        "Hòa bình và THỦY lợi ở Khánh Hòa",
        unicodedata.normalize("NFD", article(7)),
        "x_y 12 𠀀abc 😀 hòa z",
    ]
    return texts


def shared_texts() -> list[str]:
    """30 real news texts of the shared dedup benchmark (skips when that data is absent)."""
    corpus = SHARED / "bench" / "dedup" / "visible-10k.jsonl.gz"
    if not corpus.exists():
        pytest.skip(f"{corpus} not found (the shared benchmark data sits beside the repository)")
    with gzip.open(corpus, "rt", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for _, line in zip(range(30), fh)]


@pytest.fixture(params=["made_up", "shared"])
def texts(request) -> list[str]:
    """Texts to compare signatures and shingles on: made-up edge cases, then real articles."""
    return texts_for_signatures() if request.param == "made_up" else shared_texts()


# --- signatures ---------------------------------------------------------------------------


def test_permutations_are_datasketchs():
    for num_perm, seed in ((128, 1), (64, 7)):
        a, b = permutations(num_perm, seed)
        ds_a, ds_b = MinHash(num_perm=num_perm, seed=seed).permutations
        assert np.array_equal(a, ds_a) and np.array_equal(b, ds_b)


@pytest.mark.parametrize("num_perm,seed", [(128, 1), (64, 7)])
def test_signatures_bit_identical_to_datasketch_with_the_same_hash(num_perm, seed, texts):
    hasher = MinHasher(num_perm, seed, block=4096)  # small blocks: several per document
    for text in texts:
        reference = MinHash(num_perm=num_perm, seed=seed, hashfunc=sh.shingle_hash)
        reference.update_batch(sh.shingle_strings(text))
        ours = hasher.signature(sh.shingle_hashes(text))
        assert np.array_equal(ours, reference.hashvalues), text[:40]


def test_signatures_bit_identical_to_datasketch_default_sha1():
    hasher = MinHasher(128, 1)
    for text in texts_for_signatures()[:8]:
        shingles = [s.encode("utf-8") for s in sh.shingle_strings(text)]
        reference = MinHash(num_perm=128, seed=1)
        reference.update_batch(shingles)
        ours = hasher.signature(np.unique(np.array([sha1_hash32(s) for s in shingles], dtype=np.uint64)))
        assert np.array_equal(ours, reference.hashvalues)


def test_mersenne_reduction_edge_case_matches_datasketch():
    # a hash whose permuted value a*h+b (mod 2**64) is exactly p: datasketch gives 0 there,
    # the shortcut (x & p) + (x >> 61) gives p and must be corrected
    a, b = permutations(128, 1)
    j = next(j for j in range(128) if int(a[j]) % 2 == 1)
    h = ((MERSENNE_PRIME - int(b[j])) * pow(int(a[j]), -1, 1 << 64)) % (1 << 64)
    values = [h, 12345, 2**32 - 1]
    reference = MinHash(num_perm=128, seed=1, hashfunc=int)
    reference.update_batch(values)
    ours = MinHasher(128, 1).signature(np.array(values, dtype=np.uint64))
    assert ours[j] == 0
    assert np.array_equal(ours, reference.hashvalues)


# --- dedup text and shingles ------------------------------------------------------------------


def test_fast_shingle_hashes_equal_the_reference(texts):
    for text in texts:
        for n in (1, 3, 5):
            assert np.array_equal(sh.shingle_hashes(text, n), sh.shingle_hashes_reference(text, n)), text[:40]


def test_word_characters_are_those_of_re():
    flags = sh._flags()
    word = re.compile(r"\w")
    for code in range(0x10000):
        if 0xD800 <= code < 0xE000:
            continue
        assert bool(flags[code] & 1) == bool(word.match(chr(code))), hex(code)


def test_unicode_form_and_tone_placement_variants_share_their_shingles():
    text = "Hòa bình cho Khánh Hòa, thủy lợi và sức khỏe. " + article(1)
    new_style = "Hoà bình cho Khánh Hoà, thuỷ lợi và sức khoẻ. " + article(1)
    base = sh.shingle_hashes(text)
    assert np.array_equal(sh.shingle_hashes(new_style), base)
    assert np.array_equal(sh.shingle_hashes(unicodedata.normalize("NFD", text)), base)
    assert np.array_equal(sh.shingle_hashes(text.upper()), base)
    assert sh.dedup_text("HÒA THỦY hoàn") == "hoà thuỷ hoàn"


# --- banding ----------------------------------------------------------------------------------


def test_banding_is_chosen_for_the_threshold():
    bands, rows = choose_banding(0.8, 128, 0.001)
    assert bands * rows <= 128
    assert 1 - candidate_probability(0.8, bands, rows) <= 0.001
    # datasketch's default banding for 0.8 (9 x 13) misses most pairs right at the threshold
    assert 1 - candidate_probability(0.8, 9, 13) > 0.5


def test_candidate_pairs_from_band_keys():
    keys = np.array([5, 3, 5, 5, 3, 7], dtype=np.uint64)  # positions in rank order
    later, earlier = pairs_within(keys, max_bucket=10)
    assert sorted(zip(later.tolist(), earlier.tolist())) == [(2, 0), (3, 0), (3, 2), (4, 1)]
    later, earlier = pairs_within(keys, max_bucket=1)  # only the best-ranked member of a bucket
    assert sorted(zip(later.tolist(), earlier.tolist())) == [(2, 0), (3, 0), (4, 1)]
    later, ids = pairs_against(keys, np.array([3, 5], dtype=np.uint64), np.array([100, 200]), max_bucket=10)
    assert sorted(zip(later.tolist(), ids.tolist())) == [(0, 200), (1, 100), (2, 200), (3, 200), (4, 100)]


# --- the step ---------------------------------------------------------------------------------


def run_step(docs: list[Document], state_dir=None, **options):
    step = NearDedup({"scratch_dir": "", **options})
    items = [(DocRef(i, d.id, d.metadata.get("created")), step.key(d)) for i, d in enumerate(docs)]
    drops = list(step.reduce(items, state_dir))
    return step, {docs[d.order].id: d for d in drops}


def trimmed(text: str, words: int) -> str:
    return " ".join(text.split(" ")[:-words])


def test_near_copies_dropped_with_dup_of_the_kept_document():
    base = article(1)
    docs = [
        Document("orig", base),
        Document("nfd", unicodedata.normalize("NFD", base)),
        Document("tone", base.replace("hòa", "hoà").replace("thủy", "thuỷ").replace("khỏe", "khoẻ")),
        Document("trim", trimmed(base, 10)),
        Document("other", article(2)),
    ]
    _, drops = run_step(docs)
    assert set(drops) == {"nfd", "tone", "trim"}
    assert all(d.dup_of == "orig" and "duplicate" in d.reason for d in drops.values())
    assert drops["trim"].detail.startswith("jaccard 0.9")


def test_the_title_is_compared_with_the_text():
    # a short wire item copied under the same title, its last words cut: the bodies alone are
    # below the threshold, title + body above it; and a copy with another title is judged on its body
    body = "Theo thông báo của cơ quan chức năng, tuyến đường này sẽ tạm dừng lưu thông từ ngày mai để sửa chữa mặt cầu."
    title = "Hà Nội tạm cấm xe qua cầu Thăng Long trong ba tháng để sửa chữa mặt cầu bị hư hỏng"
    copy = trimmed(body, 6)  # Jaccard of the bodies 0.70, of title + body 0.87
    docs = [Document("a", body, metadata={"title": title}), Document("b", copy, metadata={"title": title})]
    _, with_title = run_step(docs)
    _, without = run_step(docs, with_title=False)
    assert set(with_title) == {"b"} and with_title["b"].dup_of == "a"
    assert without == {}
    untitled = [
        Document("a", body),
        Document("b", body, metadata={"title": "Another headline for the same story"}),
    ]
    _, drops = run_step(untitled)
    assert set(drops) == set()  # 5-grams of a different title make the short copy fall below 0.8


def test_candidate_below_the_threshold_is_not_dropped():
    base = article(3, 200)
    words = base.split(" ")
    rng = random.Random(0)
    for k in rng.sample(range(len(words)), 12):  # ~12 edits: Jaccard ~0.6, a likely LSH candidate
        words[k] = "xyz"
    docs = [Document("a", base), Document("b", " ".join(words))]
    jaccard = sh.shingle_hashes(docs[0].text), sh.shingle_hashes(docs[1].text)
    exact = len(np.intersect1d(*jaccard)) / len(np.union1d(*jaccard))
    assert 0.5 < exact < 0.8
    step, drops = run_step(docs, bands=32, rows=4)  # makes the pair a candidate with probability ~0.98
    assert step.stats.counters["candidates_below_threshold"] >= 1  # it was a candidate, and verified
    assert drops == {}
    _, loose = run_step(docs, bands=32, rows=4, threshold=0.5)  # the same pair is a near-copy at 0.5
    assert set(loose) == {"b"}


def test_keep_rule_earliest_date_then_input_order():
    base = article(4)
    docs = [
        Document("undated-first", base),
        Document("late", base, metadata={"created": "2024-03-02T08:00:00+07:00"}),
        Document("early", trimmed(base, 5), metadata={"created": "2024-03-01T08:00:00+07:00"}),
        Document("early-too", trimmed(base, 8), metadata={"created": "2024-03-01T08:00:00+07:00"}),
    ]
    for _ in range(2):  # deterministic
        _, drops = run_step(docs)
        assert set(drops) == {"undated-first", "late", "early-too"}
        assert {d.dup_of for d in drops.values()} == {"early"}


def test_chain_keeps_the_end_that_is_not_a_copy_of_a_kept_document():
    base = article(5, 200)
    middle = trimmed(base, 30)  # J(base, middle) ~0.85
    end = trimmed(middle, 30)  # J(middle, end) ~0.83, J(base, end) ~0.7
    _, drops = run_step([Document("a", base), Document("b", middle), Document("c", end)])
    assert set(drops) == {"b"}  # c's only near-copy was dropped: c is kept (no content lost)


def test_signature_verification_mode():
    base = article(6)
    docs = [Document("a", base), Document("b", trimmed(base, 5)), Document("c", article(7))]
    _, drops = run_step(docs, verify="signature")
    assert set(drops) == {"b"} and drops["b"].detail.startswith("estimated jaccard")


def test_documents_without_words_are_never_duplicates():
    _, drops = run_step([Document("a", "…  !!"), Document("b", "…  !!"), Document("c", article(8))])
    assert drops == {}


def test_index_remembers_kept_documents_and_is_applied_once(tmp_path):
    state = tmp_path / "state"
    base = article(9)
    step, drops = run_step([Document("day1", base), Document("x", article(10))], state)
    assert drops == {}
    step.stage(tmp_path / "delta1")
    index_file = state / "near_dedup" / "index.sqlite"
    assert not index_file.exists()  # reduce and stage never touch the state
    fresh = NearDedup({})  # commit works on a fresh instance (roll forward after a kill)
    fresh.commit(state, tmp_path / "delta1")
    fresh.commit(state, tmp_path / "delta1")  # idempotent
    with sqlite3.connect(index_file) as db:
        assert db.execute("SELECT COUNT(*) FROM docs").fetchone()[0] == 2
    _, drops = run_step([Document("day2", trimmed(base, 4)), Document("y", article(11))], state)
    assert set(drops) == {"day2"} and drops["day2"].dup_of == "day1"
    assert "earlier run" in drops["day2"].detail


def test_index_built_with_other_parameters_is_refused(tmp_path):
    state = tmp_path / "state"
    step, _ = run_step([Document("a", article(12))], state)
    step.stage(tmp_path / "delta")
    step.commit(state, tmp_path / "delta")
    with pytest.raises(Exception, match="other parameters"):
        run_step([Document("b", article(13))], state, ngram=3)


def test_scratch_files_are_removed(tmp_path):
    step, _ = run_step([Document("a", article(14)), Document("b", article(14))], scratch_dir=str(tmp_path))
    assert list(tmp_path.iterdir())  # the scratch directory lives until stage()
    step.stage(tmp_path / "delta")
    assert [p.name for p in tmp_path.iterdir()] == ["delta"]


# --- through the CLI: two scheduled runs equal one run; a failed run leaves the index as it was ---


def _pages(directory: Path, prefix: str, pages: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, body in pages.items():
        (directory / f"{prefix}-{name}.txt").write_text(
            f"Tiêu đề bài {prefix} {name}\n\n{body}\n", encoding="utf-8"
        )


# copies sort after their original (the keep rule: input order, for undated pages)
EXPECTED_DUPS = {
    "a-01x-copy.txt": "a-01.txt",
    "b-02-nfd.txt": "a-02.txt",
    "b-03-cut.txt": "a-03.txt",
    "b-06x-copy.txt": "b-06.txt",
}


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    from corpus_helpers import article as page_article

    bodies = {i: page_article(i).split("\n\n", 1)[1].strip() for i in range(10)}
    nfd = unicodedata.normalize("NFD", bodies[2] + " Theo VOV.")  # not an exact copy: exact_dedup keeps it
    cut = bodies[3].rsplit(".", 2)[0] + "."  # the last sentence trimmed
    base = tmp_path_factory.mktemp("near_days")
    day1 = {f"{i:02d}": bodies[i] for i in range(6)}
    day1["01x-copy"] = bodies[1].replace("Mã tin", "Theo TTXVN, mã tin")
    day2 = {f"{i:02d}": bodies[i] for i in range(6, 10)}
    day2 |= {"02-nfd": nfd, "03-cut": cut, "06x-copy": bodies[6] + " Theo Báo Tin Tức."}
    _pages(base / "day1", "a", day1)
    _pages(base / "day2", "b", day2)
    _pages(base / "all", "a", day1)
    _pages(base / "all", "b", day2)
    return base


def _kept_ids(output: Path) -> set[str]:
    from corpus_helpers import corpus_view

    return {r["id"] for r in corpus_view(output)}


def _dup_of(output: Path) -> dict[str, str]:
    out = {}
    for path in (output / "runs").glob("*/rejects-*.jsonl.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            out |= {r["id"]: r.get("dup_of") for r in map(json.loads, fh) if r["stage"] == "near_dedup"}
    return out


def _index_rows(output: Path) -> list[tuple]:
    path = output / "state" / "near_dedup" / "index.sqlite"
    with sqlite3.connect(path) as db:
        return db.execute("SELECT seq, id FROM docs ORDER BY seq").fetchall()


@pytest.mark.slow
def test_two_scheduled_runs_keep_what_one_run_keeps(days, tmp_path):
    from corpus_helpers import run_cli, small_config

    config = small_config(tmp_path)
    one, two = tmp_path / "one", tmp_path / "two"
    assert run_cli(config, days / "all", one).returncode == 0
    assert run_cli(config, days / "day1", two).returncode == 0
    assert run_cli(config, days / "day2", two).returncode == 0
    assert _kept_ids(two) == _kept_ids(one)
    expected = EXPECTED_DUPS
    assert _dup_of(one) == expected
    assert _dup_of(two) == expected  # day 2 dropped its copies of day-1 documents
    assert len(_index_rows(two)) == len(_kept_ids(two)) == 10


@pytest.mark.slow
def test_two_scheduled_runs_over_jsonl_halves_keep_what_one_run_keeps(days, tmp_path):
    """The issue's setting: one JSONL corpus cut in two files, day 1 then day 2 into one corpus
    (benchmarks/dedup_two_days.py does the same on the 10k benchmark)."""
    from corpus_helpers import run_cli, small_config

    config = small_config(tmp_path)
    for day, name in (("day1", "a.jsonl"), ("day2", "b.jsonl")):
        lines = [
            json.dumps({"id": page.stem, "text": page.read_text(encoding="utf-8")}, ensure_ascii=False) + "\n"
            for page in sorted((days / day).glob("*.txt"))
        ]
        for folder in (day, "all"):
            (tmp_path / "in" / folder).mkdir(parents=True, exist_ok=True)
            (tmp_path / "in" / folder / name).write_text("".join(lines), encoding="utf-8")
    one, two = tmp_path / "one", tmp_path / "two"
    assert run_cli(config, tmp_path / "in" / "all", one).returncode == 0
    assert run_cli(config, tmp_path / "in" / "day1", two).returncode == 0
    assert run_cli(config, tmp_path / "in" / "day2", two).returncode == 0
    expected = {k.removesuffix(".txt"): v.removesuffix(".txt") for k, v in EXPECTED_DUPS.items()}
    assert _kept_ids(two) == _kept_ids(one) and len(_kept_ids(one)) == 10
    assert _dup_of(one) == _dup_of(two) == expected


@pytest.mark.slow
@pytest.mark.parametrize("points", [("staged", "commit"), ("near_index_commit",)])
def test_run_killed_before_its_commit_leaves_the_index_unchanged(days, tmp_path, points):
    from corpus_helpers import run_cli, small_config

    config = small_config(tmp_path)
    out = tmp_path / "out"
    assert run_cli(config, days / "day1", out).returncode == 0
    before = _index_rows(out)
    # staged: before the manifest; commit: after it, before near_dedup's commit;
    # near_index_commit: inside near_dedup's index transaction (SQLite must roll it back)
    for point in points:
        killed = run_cli(config, days / "day2", out, env={"NEWSCLEAN_TEST_KILL_AT": point})
        assert killed.returncode != 0
        assert _index_rows(out) == before
        if point != "staged":  # the finished run is applied by the next one (roll forward), once
            assert run_cli(config, days / "day2", out).returncode == 0
    assert len(_index_rows(out)) == 10
    assert _dup_of(out) == EXPECTED_DUPS


def test_the_key_text_from_the_lowercase_copy_equals_lowering_the_whole_text():
    """near_dedup's key lowers the body once with quality_signals (`Document.lowered`) and the title
    apart: the same text as NFC and lower of title + "\\n\\n" + body, whatever sits at the seam."""
    from pipeline.s6_dedup.near import _canonical

    rng = random.Random(11)
    # Greek capital sigma (final or not, by its neighbours), combining marks that compose only in
    # NFC, decomposed Vietnamese, dotted capital I (lowers to two code points), case-ignorable marks
    pieces = [
        "Σ",
        "ΑΣ",
        "σ",
        "\u0301",
        "e\u0302\u0301",
        "Ệ",
        "İ",
        "'",
        ".",
        "·",
        "A",
        "a",
        " ",
        "\n",
        "Hà Nội",
    ]
    for _ in range(3000):
        title = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 5)))
        body = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        doc = Document(id="x", text=body)
        if rng.random() < 0.5:
            doc.lowered()  # the copy quality_signals made
        want = unicodedata.normalize("NFC", f"{title}\n\n{body}" if title else body).lower()
        assert _canonical(title or None, doc) == want, (title, body)


def test_a_lowercase_copy_is_made_again_when_the_text_changes():
    doc = Document(id="x", text="ABC")
    assert doc.lowered() == "abc" and doc.lowered() is doc.lowered()
    doc.text = "DEF"
    assert doc.lowered() == "def"
