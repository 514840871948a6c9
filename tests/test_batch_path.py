"""A step's batch path (`Step.process_batch`) gives what its per-document path gives.

The run takes a step's overridden `process_batch` over BATCH documents at a time and falls back to
`process` one document at a time when the batch raises or runs out of time; the documents, drops,
error records and stats must be those of the per-document path in every case.
"""

from __future__ import annotations

import gzip
import random
import time
from pathlib import Path

import numpy as np
import pytest
from clean_helpers import SHARED

from pipeline.config import load_config
from pipeline.document import Document
from pipeline.plan import list_inputs, plan_tasks, read_task
from pipeline.runner import build_steps
from pipeline.step import BATCH, GlobalStep, Step
from pipeline.timelimit import set_doc_timeout

ROOT = Path(__file__).resolve().parents[1]
JSONL = SHARED / "bench" / "dedup" / "visible-10k.jsonl.gz"


class Shout(Step):
    """A toy step with both paths: upper-cases the text, drops texts with "spam", raises on "boom",
    never ends on "hang"; counts the documents it changed."""

    name = "shout"

    def process(self, doc: Document) -> None:
        doc.text = self._shout(doc.text)
        self.stats.counters["shouted"] += 1
        if "SPAM" in doc.text:
            doc.drop(self.name, "spam", "says spam")

    def process_batch(self, docs: list[Document]) -> None:
        self.stats.counters["shouted"] += len(docs)  # counted first: the run undoes it if the batch fails
        texts = [self._shout(doc.text) for doc in docs]  # computed before any document changes
        for doc, text in zip(docs, texts):
            doc.text = text
            if "SPAM" in text:
                doc.drop(self.name, "spam", "says spam")

    @staticmethod
    def _shout(text: str) -> str:
        if "boom" in text:
            raise ValueError("boom")
        while "hang" in text:
            time.sleep(0.01)
        return text.upper()


class ShoutOneByOne(Shout):
    process_batch = Step.process_batch  # the per-document path of the same step


def _outcome(docs: list[Document]) -> list[tuple]:
    return [
        (d.id, d.text, d.drop_stage, d.drop_reason, d.drop_detail, d.is_error, repr(d.metadata)) for d in docs
    ]


def _stats(step: Step) -> dict:
    return {**step.stats.as_dict(), "seconds": None}


def _through(step: Step, texts: list[str]) -> list[Document]:
    docs = [Document(id=str(i), text=t, media_type="text") for i, t in enumerate(texts)]
    docs[3].drop("earlier", "gone", "dropped by an earlier step")  # passed through untouched
    return list(step.run(docs))


def test_a_batch_path_gives_the_documents_and_stats_of_the_per_document_path():
    texts = [f"text {i}" + (" spam" if i % 7 == 0 else "") for i in range(3 * BATCH + 5)]
    batched, single = Shout(), ShoutOneByOne()
    assert _outcome(_through(batched, texts)) == _outcome(_through(single, texts))
    assert _stats(batched) == _stats(single)
    assert batched.stats.counters["shouted"] == len(texts) - 1 and batched.stats.dropped["spam"] > 0


def test_a_bad_document_in_a_batch_is_an_error_record_and_the_rest_go_on():
    texts = [f"text {i}" for i in range(2 * BATCH)]
    texts[5], texts[BATCH + 9] = "boom here", "spam"
    batched, single = Shout(), ShoutOneByOne()
    out = _through(batched, texts)
    assert _outcome(out) == _outcome(_through(single, texts))
    assert _stats(batched) == _stats(single)  # the failed batch's counters were not kept twice
    assert (out[5].drop_reason, out[5].is_error, out[5].drop_detail) == ("error", True, "ValueError: boom")
    assert [d.id for d in out if d.is_error] == ["5"]
    assert out[6].text == "TEXT 6" and batched.stats.errors == 1 and batched.stats.counters["shouted"] == 126


def test_a_batch_out_of_time_is_retried_one_document_at_a_time():
    set_doc_timeout(0.3)
    try:
        texts = [f"text {i}" for i in range(10)]
        texts[4] = "hang"
        step = Shout()
        start = time.perf_counter()
        out = _through(step, texts)
        assert time.perf_counter() - start < 5
    finally:
        set_doc_timeout(0)
    assert (out[4].drop_reason, out[4].is_error) == ("timeout", True)
    assert [d.text for d in out if not d.dropped] == [f"TEXT {i}" for i in (0, 1, 2, 5, 6, 7, 8, 9)]
    assert step.stats.dropped == {"timeout": 1} and step.stats.docs_in == 9


def test_a_batch_charges_each_document_its_share_of_the_time_limit():
    set_doc_timeout(30)
    try:
        out = _through(Shout(), ["a", "b", "c", "d", "e"])
    finally:
        set_doc_timeout(0)
    assert all(0 < d.time_left < 30 for d in out if not d.dropped)


# --- the pipeline's own batch paths --------------------------------------------------------------


def _batch_steps() -> list[type]:
    config = load_config(str(ROOT / "config" / "default.yaml"))
    return [type(s) for s in build_steps(config) if type(s).process_batch is not Step.process_batch]


def _texts() -> list[str]:
    """The seed articles, junk (spaces of every kind, other scripts, empty) and a bad document."""
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "seeds").glob("*.txt"))]
    rng = random.Random(16)
    spaces = [chr(c) for c in range(0x3001) if chr(c).isspace()]
    pieces = ["tin", "mới", "Hà Nội", "news", "北京", "ệ", "🙂", "lorem ipsum", "\x00", "Ã©", *spaces]
    for n in (0, 1, 5, 40, 300, 3000):
        texts.append("".join(rng.choice(pieces) for _ in range(n)))
    texts += ["lặp lại " * 500, "\n\n\n", "\ud800 lone surrogate " * 40, "line\r\nline\rline " * 30]
    return texts


def _jsonl_docs(tmp_path: Path, lines: int = 300) -> list[Document]:
    if not JSONL.exists():
        pytest.skip(f"{JSONL} not found (the shared benchmark data sits beside the repository)")
    path = tmp_path / "slice.jsonl.gz"
    with gzip.open(JSONL, "rb") as src, gzip.open(path, "wb") as dst:
        for _, line in zip(range(lines), src):
            dst.write(line)
    config = load_config(str(ROOT / "config" / "default.yaml"))
    tasks = plan_tasks(list_inputs([str(path)]), config.run["task_size"], config.read)
    return [doc for task in tasks for doc in read_task(task, config.read)]


def _default_steps_over(docs: list[Document], monkeypatch, kernels, batched: bool) -> tuple[list, list]:
    from pipeline.s5_filter import language, length, quality_signals
    from pipeline.s6_dedup import exact, near

    for module in (length, quality_signals, language, near, exact):
        monkeypatch.setattr(module, "kernels_for", lambda seen: kernels)
    if not batched:
        for cls in _batch_steps():
            monkeypatch.setattr(cls, "process_batch", Step.process_batch)
    steps = build_steps(load_config(str(ROOT / "config" / "default.yaml")))
    stream = iter(docs)
    for step in steps:
        if not isinstance(step, GlobalStep):
            stream = step.run(stream)
    out = list(stream)
    keys = [exact.ExactDedup().key(d) if not d.dropped else None for d in out]
    monkeypatch.undo()
    return _outcome(out) + keys, [_stats(s) for s in steps]


@pytest.mark.parametrize("jit", [True, False])
def test_the_default_steps_give_the_same_documents_batched_or_one_by_one(tmp_path, monkeypatch, jit):
    import copy

    from pipeline.kernels import kernels_for

    kernels = kernels_for(10**9) if jit else None
    if jit and kernels is None:
        pytest.skip("numba is not installed")
    assert {cls.name for cls in _batch_steps()} >= {"length_filter"}
    docs = [Document(id=str(i), text=t, media_type="text") for i, t in enumerate(_texts())]
    docs += _jsonl_docs(tmp_path)
    docs.insert(BATCH // 2, Document(id="bad", text=None, media_type="text"))  # type: ignore[arg-type]
    one_by_one = _default_steps_over(copy.deepcopy(docs), monkeypatch, kernels, batched=False)
    batched = _default_steps_over(copy.deepcopy(docs), monkeypatch, kernels, batched=True)
    assert batched == one_by_one
    outcome = {row[0]: row for row in batched[0] if isinstance(row, tuple)}
    assert outcome["bad"][5] is True  # an error record, in the step where it failed
    assert sum(1 for row in outcome.values() if row[3] is None) >= 200  # articles kept to compare


@pytest.mark.parametrize("jit", [True, False])
def test_a_bad_document_in_a_length_filter_batch_is_its_error_record(monkeypatch, jit):
    from pipeline.kernels import kernels_for
    from pipeline.s5_filter import length

    class OneByOne(length.LengthFilter):
        process_batch = Step.process_batch

    monkeypatch.setattr(length, "kernels_for", lambda seen: kernels_for(10**9) if jit else None)
    texts = [t for t in _texts() if "\ud800" not in t] * 10

    def docs() -> list[Document]:
        out = [Document(id=str(i), text=t, media_type="text") for i, t in enumerate(texts)]
        out[BATCH + 3].text = None  # type: ignore[assignment]
        return out

    batched, single = length.LengthFilter(), OneByOne()
    out = list(batched.run(docs()))
    assert _outcome(out) == _outcome(list(single.run(docs())))
    assert _stats(batched) == _stats(single)
    assert [d.id for d in out if d.is_error] == [str(BATCH + 3)] and batched.stats.errors == 1
    assert sum(d.metadata.get("n_words", 0) > 30 for d in out) >= 10


# --- the kernels behind the batch paths ----------------------------------------------------------


def test_the_space_table_is_str_isspace_for_every_code_point():
    from pipeline.s5_filter.quality_tokens import SPACE_POINTS

    assert np.flatnonzero(SPACE_POINTS).tolist() == [c for c in range(0x110000) if chr(c).isspace()]


def test_compiled_word_counts_and_joined_words_equal_str_split():
    from pipeline.kernels import kernels_for
    from pipeline.s5_filter.quality_tokens import SPACE_POINTS
    from pipeline.s6_dedup.exact import content_hash

    kernels = kernels_for(10**9)
    if kernels is None:
        pytest.skip("numba is not installed")
    rng = random.Random(7)
    alphabet = [chr(c) for c in np.flatnonzero(SPACE_POINTS)]
    alphabet += list("ab\u00e9\u1ec7\u07ff\u0800\u3001\U0001f642\U0010ffff\u0300\x00")
    # letters that casefold: to one code point of another UTF-8 length ("\u023a" -> "\u2c65"), Vietnamese
    # capitals, Greek final sigma, astral (Deseret, Adlam), to several code points ("ß", "ﬃ", "İ")
    alphabet += list("AZ\u00c9\u1ec6\u0110\u023a\u03a3\u03c2\u1e9e\U00010400\U0001e900\u00df\ufb03\u0130")
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(3000)]
    texts += _texts()[:5] + ["", " ", "\u3000x\u3000"]
    points = np.frombuffer("\n".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    lengths = np.array([len(t) for t in texts], dtype=np.int64)
    assert kernels.word_counts(points, SPACE_POINTS, lengths).tolist() == [len(t.split()) for t in texts]
    for text in texts:
        if "\ud800" not in text:
            assert content_hash(text, kernels) == content_hash(text), repr(text)
    with pytest.raises(UnicodeEncodeError):  # a lone surrogate: the error of the Python path
        content_hash("a\ud800 b", kernels)


def test_the_fold_table_is_str_casefold_for_every_code_point():
    from pipeline.s6_dedup.exact import _FOLD_LIMIT, fold_table

    table = fold_table()
    for c in range(0x110000):
        folded = chr(c).casefold()
        if c >= _FOLD_LIMIT:  # the kernel leaves these as they are
            assert folded == chr(c), hex(c)
        elif len(folded) > 1:  # the kernel gives up, the Python path folds
            assert table[c] == 0xFFFFFFFF, hex(c)
        else:
            assert table[c] == ord(folded), hex(c)


def test_compiled_content_hash_folds_case_like_the_python_path():
    from pipeline.kernels import kernels_for
    from pipeline.s6_dedup.exact import content_hash

    kernels = kernels_for(10**9)
    if kernels is None:
        pytest.skip("numba is not installed")
    same = ["Hà Nội  NGÀY\nhôm nay", "hà nội ngày hôm nay", "HÀ NỘI NGÀY HÔM NAY"]
    assert len({content_hash(t, kernels) for t in same}) == 1
    assert content_hash(same[0], kernels) == content_hash(same[0])
    assert content_hash("Straße", kernels) == content_hash("STRASSE", kernels) == content_hash("strasse")
    assert content_hash("Hà Nội", kernels) != content_hash("Ha Noi", kernels)


def test_compiled_char_counts_equal_the_python_counts():
    from pipeline.kernels import kernels_for
    from pipeline.s5_filter import quality_signals as quality

    kernels = kernels_for(10**9)
    if kernels is None:
        pytest.skip("numba is not installed")
    rng = random.Random(11)
    alphabet = list("ab.#|> .\n..") + sorted(quality._EXPECTED)[::3] + sorted(quality._MOJIBAKE_MARKS)[::4]
    alphabet += list("“”‘’–—…»›•·►▶ệĐđ\ud800\U0001f642\U0010ffff北\xa0\u2003\u3000") + list(
        quality._VI_LETTERS[::7]
    )
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(3000)]
    texts += ["\n" * k for k in range(7)] + ["a\n\n\nb\n\n", "\n \n\n\n\n"]  # runs of newlines, odd and even
    texts += _texts() + ["a." * 40_000 + "..." * 30_000 + "#|>" * 25_000]  # past a lane's 65,535 characters
    points = np.frombuffer("\n".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    lengths = np.array([len(t) for t in texts], dtype=np.int64)
    rows = kernels.char_counts(points, quality._CLASSES, lengths).tolist()
    assert [tuple(row[:9]) for row in rows] == [quality._char_counts(t) for t in texts]
    assert [row[9] for row in rows] == [sum(c.isspace() and c > "\x7f" for c in t) for t in texts]
    assert [row[10:] for row in rows] == [[t.count("\n"), t.count("\n\n")] for t in texts]
    assert rows[-1][8] == 30_000 and rows[-1][3] == 25_000


@pytest.mark.parametrize("jit", [True, False])
def test_quality_signals_batched_equal_one_by_one_on_raw_texts(monkeypatch, jit):
    """Texts no earlier step has normalized: wide spaces, controls, other scripts, empty ones."""
    from pipeline.kernels import kernels_for
    from pipeline.s5_filter import quality_signals as quality

    class OneByOne(quality.QualitySignals):
        process_batch = Step.process_batch

    monkeypatch.setattr(quality, "kernels_for", lambda seen: kernels_for(10**9) if jit else None)
    rng = random.Random(5)
    pieces = ["tin", "mới", "\xa0", "\u2003", "\u3000", " ", "\n", "\n\n", "...", "…", "#", "»", "Ã©"]
    texts = _texts() + ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 80))) for _ in range(150)]
    languages = ["vi", "en", None, "fr"]

    def docs() -> list[Document]:
        out = [Document(id=str(i), text=t, media_type="text") for i, t in enumerate(texts)]
        for i, doc in enumerate(out):
            doc.metadata["language"] = languages[i % 4]
        return out

    batched, single = quality.QualitySignals(), OneByOne()
    out = list(batched.run(docs()))
    assert _outcome(out) == _outcome(list(single.run(docs())))
    assert _stats(batched) == _stats(single) and batched.stats.counters["quality.no_profile"] > 0
    assert all(d.metadata["quality"]["n_words"] == len(d.text.split()) for d in out if not d.dropped)


def test_the_old_style_pair_kernel_finds_what_numpy_finds():
    from pipeline.kernels import kernels_for
    from pipeline.s6_dedup import shingles

    kernels = kernels_for(10**9)
    if kernels is None:
        pytest.skip("numba is not installed")
    rng = random.Random(9)
    texts = ["hoà thuý", "hòa thúy", "òa", "a ò", "ùy", "ùa", "", "o", *_texts()[:6]]
    texts += ["".join(rng.choice("òóỏõọùúủũụaeyu x") for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    found = []
    for text in texts:
        _, flags = shingles._code_points(text.lower())
        found.append(shingles._has_old_style_pair(flags, kernels))
        assert found[-1] == shingles._has_old_style_pair(flags), repr(text)
    assert found[:6] == [
        False,
        True,
        True,
        False,
        True,
        False,
    ]  # old style: the tone on o before a, u before y
