"""Quality signals, per-language thresholds, PII masking and `newsclean refilter`."""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
from collections import Counter
from itertools import islice
from pathlib import Path

import orjson
import pytest
from clean_helpers import SHARED
from quality_junk import KINDS, PROSE, junk_set

from pipeline.config import ConfigError, load_config
from pipeline.corpus import iter_kept
from pipeline.document import Document
from pipeline.s4_normalize.normalize import normalize_text
from pipeline.s5_filter.pii import PiiMask, load_pii_patterns, mask_pii
from pipeline.s5_filter.quality_filter import QualityFilter, first_failure
from pipeline.s5_filter.quality_profiles import load_profile, make_profile
from pipeline.s5_filter.quality_signals import SIGNAL_NAMES, QualitySignals, compute_signals

ROOT = Path(__file__).resolve().parents[1]
ARTICLES = SHARED / "bench" / "articles-30k.jsonl.gz"
CONTEXT = {"config_dir": str(ROOT / "config")}


@pytest.fixture(scope="module")
def profiles():
    return {lang: load_profile(str(ROOT / "config" / "quality" / f"{lang}.yaml")) for lang in ("vi", "en")}


def verdict(text: str, profile) -> str | None:
    failed = first_failure(compute_signals(text, profile), profile)
    return failed[0].signal if failed else None


# --- the junk set and clean news ------------------------------------------------------------


def test_junk_set_is_dropped_each_for_a_named_reason(profiles):
    junk = junk_set(seed=9, per_kind=20)
    assert {kind for kind, _, _ in junk} == set(KINDS) and len(junk) == 20 * 2 * len(KINDS)
    reasons = Counter()
    by_kind = Counter()
    for kind, lang, text in junk:
        reason = verdict(text, profiles[lang])
        assert reason is None or reason in SIGNAL_NAMES
        reasons[reason] += 1
        by_kind[kind] += reason is not None
    dropped = len(junk) - reasons[None]
    assert dropped / len(junk) >= 0.95, (reasons, by_kind)
    assert all(n >= 0.8 * 40 for n in by_kind.values()), by_kind  # no kind slips through


def test_junk_of_another_seed_through_the_steps(profiles):
    """Held-out junk (another seed) through language_filter -> quality_signals -> quality_filter."""
    from pipeline.s5_filter.language import LanguageFilter

    docs = [
        Document(id=f"{kind}-{lang}-{i}", text=text)
        for i, (kind, lang, text) in enumerate(junk_set(seed=2024, per_kind=8))
    ]
    steps = [LanguageFilter({}, CONTEXT), QualitySignals({}, CONTEXT), QualityFilter({}, CONTEXT)]
    stream = docs
    for step in steps:
        stream = step.run(stream)
    out = list(stream)
    dropped = [d for d in out if d.dropped]
    assert len(dropped) / len(out) >= 0.95, Counter(d.drop_reason for d in out)
    for d in dropped:
        assert d.drop_stage == "language_filter" or d.drop_reason.startswith("quality:")


def test_clean_prose_is_kept(profiles):
    rng = random.Random(1)
    for lang in ("vi", "en"):
        for _ in range(20):
            sentences = rng.sample(PROSE[lang], len(PROSE[lang]))
            text = "\n\n".join(" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3))
            assert verdict(text, profiles[lang]) is None, text


def test_real_articles_are_kept(profiles):
    if not ARTICLES.exists():
        pytest.skip(f"{ARTICLES} not found (shared benchmark data absent)")
    with gzip.open(ARTICLES, "rb") as fh:
        texts = [normalize_text(orjson.loads(line)["text"]) for line in islice(fh, 300)]
    verdicts = {i: verdict(t, profiles["vi"]) for i, t in enumerate(texts)}
    dropped = {i: v for i, v in verdicts.items() if v}
    assert len(dropped) / len(texts) < 0.02, dropped


# --- the signals ----------------------------------------------------------------------------


def test_signals_are_reproducible_across_processes(profiles):
    text = "\n\n".join(text for _, _, text in junk_set(seed=3, per_kind=1)) + "\n\n" + " ".join(PROSE["vi"])
    here = compute_signals(text, profiles["vi"])
    assert compute_signals(text, profiles["vi"]) == here
    code = (
        "import json, sys; from pipeline.s5_filter.quality_profiles import load_profile; "
        "from pipeline.s5_filter.quality_signals import compute_signals; "
        "print(json.dumps(compute_signals(sys.stdin.read(), load_profile('config/quality/vi.yaml'))))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=text,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
    )
    assert json.loads(out.stdout) == here
    assert list(here) == list(SIGNAL_NAMES)


def _reference_ngrams(tokens: list[str]) -> dict:
    """Straightforward Gopher n-gram fractions, to check the vectorized version against."""
    out = {}
    word_chars = sum(map(len, tokens)) or 1
    for k in (2, 3, 4):
        grams = [" ".join(tokens[i : i + k]) for i in range(len(tokens) - k + 1)]
        if grams:
            counts = Counter(grams)
            gram, n = counts.most_common(1)[0]
            out[f"top_{k}gram_char_frac"] = min(len(gram) * n / (word_chars + len(tokens) - 1), 1.0)
    for k in range(5, 11):
        seen, covered = set(), [False] * len(tokens)
        for i in range(len(tokens) - k + 1):
            gram = tuple(tokens[i : i + k])
            if gram in seen:
                covered[i : i + k] = [True] * k
            seen.add(gram)
        out[f"dup_{k}gram_char_frac"] = sum(len(t) for t, c in zip(tokens, covered) if c) / word_chars
    return out


def test_ngram_signals_match_a_plain_implementation():
    rng = random.Random(5)
    for _ in range(150):
        vocab = rng.sample(["a", "bb", "ccc", "và", "của", "người", "x", "yy"], rng.randint(1, 8))
        tokens = [rng.choice(vocab) for _ in range(rng.randint(1, 80))]
        got = compute_signals(" ".join(tokens))
        for name, value in _reference_ngrams(tokens).items():
            assert got[name] == pytest.approx(round(value, 4), abs=1e-4), (name, tokens)


def test_line_and_character_signals():
    text = "Dòng một kết thúc bằng dấu chấm.\n\nDòng hai không có\n\nDòng một kết thúc bằng dấu chấm.\n\n• mục\n\nCòn nữa..."
    s = compute_signals(text)
    assert s["n_lines"] == 5 and s["n_paragraphs"] == 5
    assert s["dup_line_frac"] == 0.2
    assert s["line_punct_frac"] == 0.4  # the line cut with "..." is not a finished sentence
    assert s["ellipsis_line_frac"] == 0.2 and s["bullet_line_frac"] == 0.2
    assert s["vi_letter_frac"] == 1.0 and s["vi_diacritic_frac"] > 0.1
    broken = text.encode("utf-8").decode("cp1252", "replace")
    b = compute_signals(broken)
    assert b["mojibake_per_word"] > 0.2 and b["vi_letter_frac"] < 0.9
    assert compute_signals("Hello world. This is English.")["vi_diacritic_frac"] == 0.0


def test_lines_and_paragraphs_both_count():
    text = "Một dòng.\nHai dòng.\n\nMột dòng.\nHai dòng.\n\nBa."
    s = compute_signals(text)
    assert (s["n_lines"], s["n_paragraphs"]) == (5, 3)
    assert s["dup_line_frac"] == 0.4 and s["dup_para_frac"] == pytest.approx(1 / 3, abs=1e-4)


def test_stop_words_and_bigrams_come_from_the_profile():
    profile = make_profile(stop_words=["và", "của"], common_bigrams=[("có", "thể"), ("người", "dân")])
    s = compute_signals("Người dân và của, có thể có thể xxx", profile)
    assert s["stop_word_hits"] == 2
    assert s["common_bigram_frac"] == pytest.approx(3 / 8, abs=1e-4)  # 3 of 8 adjacent pairs
    assert compute_signals("")["n_words"] == 0


def test_common_bigram_lift_tells_word_order_from_vocabulary(profiles):
    """Word salad keeps a page's words and loses their order: its common pairs are what random
    order gives (lift ~1), whatever its vocabulary; prose is well above, even with rare words."""
    rng = random.Random(7)
    for lang, floor in (("vi", 3), ("en", 2)):
        for _ in range(10):
            prose = " ".join(rng.sample(PROSE[lang], len(PROSE[lang])))
            words = prose.lower().replace(".", "").replace(",", "").split()
            rng.shuffle(words)
            salad = " ".join(words)
            assert compute_signals(prose, profiles[lang])["common_bigram_lift"] > floor
            assert compute_signals(salad, profiles[lang])["common_bigram_lift"] < floor
    assert compute_signals("xyz abc def", profiles["vi"])["common_bigram_lift"] == 0.0  # nothing listed


def test_word_salad_of_other_sizes_and_vocabularies_is_dropped(profiles):
    """Held-out salad: lengths from 40 to 600 words, vocabulary of headlines and prose (not the
    generator's), sentence and paragraph sizes other than the junk set's."""
    from quality_junk import PREDICATES, SUBJECTS

    rng = random.Random(31)
    for lang in ("vi", "en"):
        vocab = " ".join(PROSE[lang] + SUBJECTS[lang] + PREDICATES[lang]).lower().replace(".", "").split()
        kept = []
        for _ in range(40):
            tokens = [rng.choice(vocab) for _ in range(rng.randint(40, 600))]
            sentences, i = [], 0
            while i < len(tokens):
                k = rng.randint(5, 25)
                sentences.append(" ".join(tokens[i : i + k]).capitalize() + rng.choice(".?!"))
                i += k
            per = rng.randint(2, 8)
            text = "\n\n".join(" ".join(sentences[j : j + per]) for j in range(0, len(sentences), per))
            if verdict(text, profiles[lang]) is None:
                kept.append(text[:80])
        assert len(kept) <= 2, (lang, kept)


def test_short_news_and_unit_phrases_are_kept(profiles):
    """Two kinds of clean news the FineWeb-2 limits dropped: a short item with one of FineWeb-2's 13
    stop words (syllable tokens hold fewer of them), and a price report repeating its unit."""
    short = (
        "Chiếc taxi 4 chỗ đâm gãy cọc tiêu bêtông, trượt dài rồi lao xuống mương khi chạy trên "
        "Quốc lộ 1A qua Khánh Hoà, tài xế hoảng loạn bò ra ngoài.\n\nSáng 11/4, anh Hải lái taxi "
        "chạy trên quốc lộ 1A, hướng từ Nam ra Bắc.\n\nTới thị xã Ninh Hoà, ôtô bất ngờ đâm cọc tiêu, "
        "rồi trượt dài gần 10 m, lật ngang xuống mương.\n\nCảnh sát đã huy động xe cứu hộ để cẩu ôtô "
        "gặp nạn ra khỏi hiện trường."
    )
    assert verdict(short, profiles["vi"]) is None
    prices = "\n\n".join(
        [  # a daily gold-price report (the body of visible-10k d0002545): top 4-gram 0.23
            "Giá vàng hôm nay (22/11) tăng nhẹ tại thị trường trong nước.",
            "Theo tin tức cập nhật mới nhất, giá vàng hôm nay (22/11) tại thị trường trong nước tăng nhẹ.",
            "Cụ thể, giá vàng SJC giao dịch tại thị trường Hà Nội ở mức 35,73 triệu đồng / lượng chiều mua vào "
            "và 35,91 triệu đồng / lượng chiều bán ra.",
            "Như vậy giá vàng tăng nhẹ so với mức 35,64 triệu đồng / lượng chiều mua vào và 35,84 triệu đồng / "
            "lượng chiều bán ra cùng thời điểm ngày hôm qua.",
            "Giá vàng SJC tại TP. HCM giao dịch ở mức 35,73 triệu đồng / lượng (mua vào) và 35,89 triệu đồng / "
            "lượng (bán ra), cũng tăng nhẹ cả hai chiều giao dịch so với mức 35,64 triệu đồng / lượng (mua vào) "
            "và 35,82 triệu đồng / lượng (bán ra) trước đó.",
            "Trong khi đó, giá vàng 9999 tại DOJI Hà Nội và TP. HCM lần lượt giao dịch ở mức 35,76 triệu đồng / "
            "lượng (mua vào) - 35,86 triệu đồng / lượng (bán ra); 35,77 triệu đồng / lượng (mua vào) - 35,87 "
            "triệu đồng / lượng (bán ra).",
            "Tại các ngân hàng, giá vàng hôm nay giao dịch lần lượt ở mức: VietinBank Gold: 35,73-35,90 triệu "
            "đồng / lượng (mua - bán); TPBank Gold: 35,77-35,87 triệu đồng / lượng (mua - bán).",
        ]
    )
    assert compute_signals(prices, profiles["vi"])["top_4gram_char_frac"] > 0.2
    assert verdict(prices, profiles["vi"]) is None


# --- profiles and the filter step -------------------------------------------------------------


def test_profile_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("stop_words: [a]\nthresholds:\n  no_such_signal: {max: 1}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"p.yaml:3: unknown signal 'no_such_signal'"):
        load_profile(str(bad))
    bad.write_text("thresholds:\n  dup_line_frac: {maximum: 1}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"p.yaml:2: dup_line_frac: expected"):
        load_profile(str(bad))


def test_filter_step_drops_with_signal_value_and_limit():
    step = QualityFilter({}, CONTEXT)
    spam = Document(
        id="spam",
        text="\n\n".join(["Mua bán nhà đất giá rẻ liên hệ ngay hôm nay."] * 30),
        metadata={"language": "vi"},
    )
    other = Document(id="de", text="Ein ganz normaler Satz.", metadata={"language": "de"})
    out = list(step.run([spam, other]))
    assert out[0].drop_reason.startswith("quality:") and out[0].drop_stage == "quality_filter"
    signal = out[0].drop_reason.split(":", 1)[1]
    assert signal in out[0].drop_detail and "max" in out[0].drop_detail and "vi.yaml:" in out[0].drop_detail
    assert "quality" in spam.metadata  # computed when missing
    assert not out[1].dropped and step.stats.counters["quality.no_profile"] == 1
    assert step.stats.counters["quality.recomputed"] == 1


def test_signals_step_stores_scores():
    doc = Document(id="a", text=" ".join(PROSE["vi"]), metadata={"language": "vi"})
    list(QualitySignals({}, CONTEXT).run([doc]))
    assert set(doc.metadata["quality"]) == set(SIGNAL_NAMES)
    assert all(isinstance(v, (int, float)) for v in doc.metadata["quality"].values())


# --- PII ---------------------------------------------------------------------------------------


def test_pii_mask():
    kinds = load_pii_patterns(str(ROOT / "config" / "pii.yaml"))
    text = (
        "Liên hệ nguyen.van.a@gmail.com, 0912 345 678, 091.234.5678, (028) 3822 1234, +84 912 345 678, "
        "+44 20 7946 0958, máy chủ 192.168.1.1 và 2001:db8::8a2e:370:7334."
    )
    masked, counts = mask_pii(text, kinds)
    assert counts == {"email": 1, "phone_vn": 4, "phone_intl": 1, "ipv4": 1, "ipv6": 1}, masked
    assert "@" not in masked and "0912" not in masked and "192.168" not in masked
    keep = "Giá 1.234.567 đồng, ngày 12.3.2024, năm 2023, tỷ số 3-2, dân số 98.506.193 người, phiên bản 1.2.3.4.5."
    assert mask_pii(keep, kinds) == (keep, {})
    step = PiiMask({}, CONTEXT)
    doc = Document(id="p", text=text)
    list(step.run([doc]))
    assert step.stats.counters["pii.phone_vn"] == 4 and doc.metadata["pii"]["email"] == 1


def test_default_config_has_quality_after_language_and_pii_off():
    names = [name for name, _ in load_config(ROOT / "config" / "default.yaml").steps]
    assert names.index("language_filter") < names.index("quality_signals") < names.index("quality_filter")
    assert "pii_mask" not in names


# --- refilter ------------------------------------------------------------------------------------


def _fake_corpus(output: Path, texts: list[str]) -> str:
    """A finished one-run corpus whose records carry stored quality scores."""
    from pipeline.s7_write.jsonl import ShardWriter

    run_id = "20260101T000000000Z-00001"
    run_dir = output / "runs" / run_id
    run_dir.mkdir(parents=True)
    profile = load_profile(str(ROOT / "config" / "quality" / "vi.yaml"))
    writer = ShardWriter(run_dir, "part", 100)
    for i, text in enumerate(texts):
        writer.write(
            {
                "id": f"doc-{i}",
                "text": text,
                "source": "test",
                "added": "2026-01-01T00:00:00Z",
                "created": None,
                "metadata": {
                    "title": None,
                    "author": None,
                    "section": None,
                    "url": None,
                    "language": "vi",
                    "language_score": 1.0,
                    "input_path": f"page-{i}.txt",
                    "n_chars": len(text),
                    "n_words": len(text.split()),
                    "removed": [],
                    "content_hash": None,
                    **({"quality": compute_signals(text, profile)} if i else {}),
                },
            }
        )
    shards = writer.close()
    inputs = [
        {
            "path": f"/in/page-{i}.txt",
            "size": 1,
            "xxh3_128": f"{i:032x}",
            "input_path": f"page-{i}.txt",
            "key": f"/in/page-{i}.txt",
        }
        for i in range(len(texts))
    ]
    manifest = {
        "run_id": run_id,
        "config_hash": "x",
        "inputs": inputs,
        "shards": shards,
        "rejects": [],
        "counts": {"documents": len(texts), "kept": len(texts), "dropped": 0, "errors": 0, "by_reason": {}},
    }
    (run_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (output / "runs" / "20260102T000000000Z-00002").mkdir()  # unfinished: ignored
    return run_id


def test_refilter_writes_a_run_that_supersedes_the_old_records(tmp_path):
    from pipeline.commands.refilter import refilter

    rng = random.Random(3)
    texts = []
    for _ in range(6):
        sentences = rng.sample(PROSE["vi"], len(PROSE["vi"]))
        texts.append("\n\n".join(" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3)))
    texts.append("\n\n".join(["Mua bán nhà đất giá rẻ liên hệ ngay hôm nay."] * 30))
    corpus = tmp_path / "corpus"
    old_run = _fake_corpus(corpus, texts)
    strict = tmp_path / "cfg"
    strict.mkdir()
    (strict / "vi.yaml").write_text(
        f"stop_words: [và]\ncommon_bigrams: {ROOT}/config/quality/vi-bigrams.txt\n"
        "thresholds:\n  dup_line_frac: {max: 0.293}\n  n_words: {min: 60}\n",
        encoding="utf-8",
    )
    (strict / "config.yaml").write_text(
        "steps:\n  - step: quality_filter\n    profiles: {vi: vi.yaml}\n", encoding="utf-8"
    )
    manifest = refilter(load_config(strict / "config.yaml"), corpus)
    assert manifest["kind"] == "refilter" and manifest["source_runs"] == [old_run]
    assert {e["run_id"] for e in manifest["supersedes"]} == {old_run} and len(manifest["supersedes"]) == 7
    counts = manifest["counts"]
    assert counts["documents"] == 7 and counts["kept"] + counts["dropped"] == 7
    assert counts["by_reason"].get("quality_filter:quality:dup_line_frac") == 1
    view = {record["id"]: run.id for run, record in iter_kept(corpus)}
    assert set(view.values()) == {manifest["run_id"]} and "doc-6" not in view
    assert all("quality" in record["metadata"] for _, record in iter_kept(corpus))  # doc-0 recomputed
    run_dir = corpus / "runs" / manifest["run_id"]
    rejects = [orjson.loads(line) for line in gzip.open(run_dir / manifest["rejects"][0]["file"])]
    assert {r["id"] for r in rejects} >= {"doc-6"}
    assert all(r["reason"].startswith("quality:") and r["detail"] for r in rejects)
    again = refilter(load_config(strict / "config.yaml"), corpus)  # a refilter of the refilter run
    assert again["source_runs"] == [manifest["run_id"]] and again["counts"]["documents"] == counts["kept"]


def test_refilter_needs_a_quality_filter(tmp_path):
    from pipeline.commands.refilter import refilter

    (tmp_path / "c.yaml").write_text("steps:\n  - step: length_filter\n", encoding="utf-8")
    (tmp_path / "corpus" / "runs").mkdir(parents=True)
    with pytest.raises(ConfigError, match="no enabled quality_filter"):
        refilter(load_config(tmp_path / "c.yaml"), tmp_path / "corpus")


def test_refilter_of_a_locked_corpus_exits_like_a_locked_run(tmp_path, capsys):
    from pipeline.cli import main
    from pipeline.state import RunLock

    corpus = tmp_path / "corpus"
    _fake_corpus(corpus, ["Một bài báo ngắn."])
    (corpus / "state").mkdir(exist_ok=True)
    with RunLock(corpus / "state" / "run.lock"):
        assert main(["refilter", str(corpus), "-c", str(ROOT / "config" / "default.yaml")]) == 75
    assert "cannot refilter" in capsys.readouterr().err
