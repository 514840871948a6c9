"""The fast paths of issue 16 give the same results as the plain ones."""

from __future__ import annotations

import math
import os
import signal
import time

import pytest

from pipeline.document import Document
from pipeline.step import Step
from pipeline.timelimit import DocTimeout, set_doc_timeout


class _Failing(Step):
    name = "failing"

    def process(self, doc):
        raise ValueError("bad page")


class _Slow(Step):
    name = "slow"

    def process(self, doc):
        while True:
            sum(range(1000))


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no SIGALRM timers on this platform")
def test_time_limit_timer_is_disarmed_after_each_step_and_still_stops_a_slow_one():
    set_doc_timeout(0.3)
    try:
        docs = [Document(id="a", text="x"), Document(id="b", text="y")]
        out = list(_Slow().run(_Failing().run(docs[:1])))
        assert out[0].drop_reason == "error"  # the first step's error, the second step passed it over
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        (slow,) = list(_Slow().run(docs[1:]))
        assert (slow.drop_reason, slow.drop_stage, slow.is_error) == ("timeout", "slow", True)
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    finally:
        set_doc_timeout(0)


class _SleepsOn(Step):
    name = "sleeps_on"

    def process(self, doc):
        import time

        time.sleep(self.options.get(doc.id, 0))


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no SIGALRM timers on this platform")
def test_time_limit_counts_a_documents_own_steps_not_its_batch_mates():
    # in step-major batches, "b" waits 0.35 s while "a" goes through the second step: not its time
    set_doc_timeout(0.5)
    try:
        docs = [Document(id="a", text="x"), Document(id="b", text="y")]
        first, second = _SleepsOn({"a": 0.0}), _SleepsOn({"a": 0.35, "b": 0.3})
        out = list(second.run(first.run(docs)))
        assert [d.drop_reason for d in out] == [None, None]
        slow = _SleepsOn({"c": 0.3})
        (late,) = list(slow.run(slow.run([Document(id="c", text="z")])))  # 0.6 s of its own: stopped
        assert (late.drop_reason, late.is_error) == ("timeout", True)
    finally:
        set_doc_timeout(0)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no SIGALRM timers on this platform")
def test_time_limit_is_armed_lazily_and_an_early_alarm_re_arms_for_the_running_document():
    # "a" arms the timer for its 0.4 s; "b" starts 0.25 s later with a full budget, so the timer is
    # left as it is and fires 0.15 s into "b": it must re-arm for "b" (0.25 s more), not stop it
    set_doc_timeout(0.4)
    try:
        a, b = Document(id="a", text="x"), Document(id="b", text="y")
        out = list(_SleepsOn({"a": 0.25, "b": 0.3}).run([a, b]))
        assert [d.drop_reason for d in out] == [None, None]
        assert 0.05 < b.time_left < 0.1  # charged with its own 0.3 s only
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # cancelled once the batch is done
        # a document with less left than the running timer's deadline gets the timer moved earlier
        short, fresh = Document(id="short", text="z"), Document(id="fresh", text="w")
        short.time_left = 0.1
        out = list(_SleepsOn({"short": 0.3}).run([fresh, short]))
        assert [(d.id, d.drop_reason) for d in out] == [("fresh", None), ("short", "timeout")]
    finally:
        set_doc_timeout(0)


class _SwallowsOnce(Step):
    """Loses the first DocTimeout, as Python does when the alarm lands in a gc callback or a
    __del__ (an "unraisable" exception), then works on for ever."""

    name = "swallows_once"

    def process(self, doc):
        try:
            while True:
                sum(range(1000))
        except DocTimeout:
            pass
        while True:
            sum(range(1000))


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no SIGALRM timers on this platform")
def test_time_limit_stops_a_document_whose_first_alarm_was_swallowed():
    set_doc_timeout(0.2)
    try:
        start = time.perf_counter()
        (doc,) = list(_SwallowsOnce().run([Document(id="a", text="x")]))
        assert (doc.drop_reason, doc.is_error) == ("timeout", True)
        assert time.perf_counter() - start < 2.0  # the next alarm, not never
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    finally:
        set_doc_timeout(0)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no SIGALRM timers on this platform")
def test_time_limit_alarm_between_documents_does_nothing():
    from pipeline import timelimit

    set_doc_timeout(0.05)
    try:
        doc = Document(id="a", text="x")
        start = time.perf_counter()
        assert timelimit.begin(doc, start)
        timelimit.end(doc, time.perf_counter() - start)  # done before its deadline; the timer runs on
        time.sleep(0.1)  # it fires here, with no document running: no DocTimeout
        assert timelimit.begin(doc, time.perf_counter())  # and the next step arms it again
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 0
        timelimit.end(doc, 0.0)
    finally:
        timelimit.stop()
        set_doc_timeout(0)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@pytest.mark.skipif(not hasattr(os, "fork") or not hasattr(signal, "setitimer"), reason="no fork or timers")
def test_a_forked_worker_does_not_believe_a_timer_runs():
    # timers are not inherited: a child that kept the parent's "fires at" would never arm its own
    from pipeline import timelimit

    set_doc_timeout(30)
    try:
        assert timelimit.begin(Document(id="a", text="x"), time.perf_counter())
        pid = os.fork()
        if pid == 0:  # the child: exit status 0 when it knows no timer and no document
            os._exit(0 if (timelimit._fires_at, timelimit._running) == (math.inf, None) else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        timelimit.stop()
        set_doc_timeout(0)


def test_documents_are_identical_one_at_a_time_and_in_batches(monkeypatch):
    import pipeline.step as step_module
    from pipeline import Pipeline

    def through_steps(batch: int) -> list[tuple]:
        monkeypatch.setattr(step_module, "BATCH", batch)
        docs = [Document(id=str(i), text=t, media_type="text") for i, t in enumerate(_texts() * 3)]
        return [
            (d.id, d.text, d.drop_reason, d.drop_stage, repr(d.metadata)) for d in Pipeline().process(docs)
        ]

    one, batched = through_steps(1), through_steps(64)
    assert len(one) > 64 and sum(1 for d in one if d[2] is None) >= 5 and sum(1 for d in one if d[2]) >= 5
    assert batched == one


# --- compiled kernels against the numpy path ---------------------------------------------------

numba = pytest.importorskip("numba", reason="numba (a dependency) is not installed")


def _kernels():
    from pipeline.kernels import kernels_for

    kernels = kernels_for(10**9)
    assert kernels is not None
    return kernels


def _texts() -> list[str]:
    """Articles (the seeds) and junk: empty, one word, repeats, symbols, other scripts, long words."""
    from pathlib import Path

    seeds = sorted((Path(__file__).resolve().parents[1] / "seeds").glob("*.txt"))
    texts = [p.read_text(encoding="utf-8") for p in seeds]
    rng = __import__("random").Random(16)
    words = ["tin", "mới", "Hà", "Nội", "the", "news", "»", "...", "ệ", "北京", "123", "a" * 40, "—"]
    for n in (0, 1, 2, 5, 13, 200, 3000):
        texts.append(" ".join(rng.choice(words) for _ in range(n)))
        texts.append(
            "\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(0, 12))) for _ in range(n))
        )
    texts += ["lặp lại " * 500, "x\n\nx\n\nx", "\n\n\n", "🙂 " * 50]
    return texts


def test_minhash_kernel_equals_numpy_path():
    import numpy as np

    from pipeline.s6_dedup.minhash import MinHasher
    from pipeline.s6_dedup.shingles import shingle_hashes

    kernels = _kernels()
    for num_perm, seed in ((128, 1), (64, 7)):
        hasher = MinHasher(num_perm, seed, block=4096)  # small blocks: the numpy path loops too
        for text in _texts():
            shingles = shingle_hashes(text, 5)
            if shingles.size:
                assert np.array_equal(hasher.signature(shingles, kernels), hasher.signature(shingles))


def test_profile_lookup_table_finds_what_the_binary_search_finds():
    import numpy as np

    from pipeline.s5_filter.quality_profiles import LangProfile, code_slots
    from pipeline.s5_filter.quality_signals import _profile_signals, _profile_signals_compiled
    from pipeline.s5_filter.quality_tokens import Tokens

    rng = np.random.default_rng(16)
    listed = rng.integers(0, 2**63, 400, dtype=np.uint64) * np.uint64(2)  # full 64-bit range
    keys = np.sort(np.concatenate([listed, np.array([7, 7, 7, 2**64 - 1], dtype=np.uint64)]))  # equal hashes
    values = (2 * rng.integers(0, 30, len(keys)) + rng.integers(0, 2, len(keys))).astype(np.int64)
    table = rng.random((30, 30)) < 0.3
    profile = LangProfile(
        "(test)", frozenset(), frozenset(), 30, (), table, np.nonzero(table), keys, values, code_slots(keys)
    )
    for n in (2, 50, 3000):
        hashes = np.where(
            rng.random(n) < 0.6, rng.choice(keys, n), rng.integers(0, 2**63, n, dtype=np.uint64)
        )
        tokens = Tokens(hashes, np.ones(n, np.int64), np.ones(n, bool))
        assert _profile_signals_compiled(_kernels(), tokens, profile) == _profile_signals(hashes, profile)


def test_shingle_kernel_equals_numpy_path():
    import numpy as np

    from pipeline.s6_dedup.shingles import shingle_hashes

    kernels = _kernels()
    texts = _texts() + ["hòa Hoà THỦY thuỷ 𝔘𝔫𝔦 北京 a_b " * 40]  # old-style tone pairs, astral letters
    for text in texts:
        for n in (1, 3, 5):
            plain = shingle_hashes(text, n)
            fast = shingle_hashes(text, n, kernels)
            assert fast.dtype == plain.dtype and np.array_equal(fast, plain), (n, text[:80])


def test_simhash_kernel_equals_numpy_path():
    import random

    import numpy as np

    from pipeline.s3_clean.template_lines import simhash, text_key

    kernels = _kernels()
    rng = random.Random(16)
    # nothing; complementary keys of equal weight (every bit ties: not set)
    cases = [([], []), ([1, 2**64 - 2], [7, 7])]
    for n in (1, 2, 3, 19, 500):
        keys = [rng.getrandbits(64) for _ in range(n)]
        cases.append((keys, [rng.choice([1, 2, 40, 200, 3000, 10**6]) for _ in range(n)]))
    for keys, lengths in cases:
        assert simhash(keys, lengths, kernels) == simhash(keys, lengths), (keys[:3], lengths[:3])
    assert simhash([1, 2**64 - 2], [7, 7]) == 0 and simhash([2**64 - 1], [3]) == 2**64 - 1
    for text in _texts() + ["x\n" * 50 + "a longer line that weighs more\n", "\n \n"]:
        assert np.array_equal(text_key(text, 200, kernels), text_key(text, 200)), text[:80]


def test_language_scan_kernel_gives_the_numpy_scores_bit_for_bit():
    import numpy as np

    from pipeline.s5_filter.language import _identifier

    identifier, kernels = _identifier(), _kernels()
    texts = _texts() + ["Đà Nẵng 😀 \u0301 \x00\x7f" * 30, "ab" * 2000]
    try:
        for text in texts:
            data = text[:1000].encode("utf-8")
            identifier.kernels = None
            plain = identifier._raw_score(data)
            identifier.kernels = kernels
            assert np.array_equal(identifier._raw_score(data), plain), text[:80]
            assert (identifier._slot == -1).all()  # the scratch is left clean for the next call
    finally:
        identifier.kernels = None


def test_quality_kernels_equal_numpy_path_for_every_profile():
    from pipeline.s5_filter.quality_signals import QualitySignals, compute_signals
    from pipeline.s5_filter.quality_tokens import tokenize

    kernels = _kernels()
    step = QualitySignals()
    profiles = [step.profiles["vi"], step.profiles["en"], None]
    for text in _texts():
        plain, fast = tokenize(text.lower()), tokenize(text.lower(), kernels)
        for field in ("hashes", "lengths", "has_letter"):
            a, b = getattr(plain, field), getattr(fast, field)
            assert a.dtype == b.dtype and a.tolist() == b.tolist(), field
        for profile in profiles:
            assert compute_signals(text, profile, kernels) == compute_signals(text, profile)


def test_token_kernel_on_code_points_equals_the_byte_path_for_every_kind_of_character():
    # the kernel makes each character's UTF-8 bytes itself (from its table up to U+3000, computed
    # past it): every whitespace str.split() knows, controls, 2-, 3- and 4-byte characters, the
    # table's edge, lone surrogates (as "surrogatepass" writes them)
    import random

    from pipeline.s5_filter.quality_tokens import SPACE_POINTS, point_table, tokenize

    kernels = _kernels()
    assert len(point_table()) == len(SPACE_POINTS)
    points = [*range(0x200), *range(0x7F0, 0x810), *range(0x1EA0, 0x1F00), *range(0x2FF0, 0x3010)]
    points += [0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0xD800, 0xDFFF, 0xFFFF, 0x10000, 0x1F600, 0x10FFFF]
    pool = [chr(c) for c in points + [0x4E2C, 0xAC00]]
    rng = random.Random(16)
    texts = ["".join(rng.choice(pool) for _ in range(rng.randint(0, 80))) for _ in range(2000)]
    texts += ["", " ", "a", " a ", "\x85a\xa0b\u3000c", "".join(pool)] + _texts()
    for text in texts:
        plain, fast = tokenize(text), tokenize(text, kernels)
        for field in ("hashes", "lengths", "has_letter"):
            a, b = getattr(plain, field), getattr(fast, field)
            assert a.dtype == b.dtype and a.tolist() == b.tolist(), (field, text)
    every = "".join(pool)
    assert tokenize(every, kernels).lengths.tolist() == [len(word) for word in every.split()]


def _documents_through_default_steps(monkeypatch, kernels) -> list[tuple]:
    """Every text through the default config's steps, and near_dedup's key, with the kernels given
    to every step that can use them (None: the numpy path)."""
    import numpy as np

    import pipeline.s5_filter.language as language
    import pipeline.s5_filter.quality_signals as quality
    import pipeline.s6_dedup.near as near
    from pipeline import Pipeline
    from pipeline.document import Document

    monkeypatch.setattr(quality, "kernels_for", lambda seen: kernels)
    monkeypatch.setattr(near, "kernels_for", lambda seen: kernels)
    monkeypatch.setattr(language, "kernels_for", lambda seen: kernels)
    pipeline = Pipeline()
    (near_options,) = [options for name, options in pipeline.config.steps if name == "near_dedup"]
    key_step = near.NearDedup(near_options)
    docs = [Document(id=str(i), text=t, media_type="text") for i, t in enumerate(_texts())]
    out = []
    for doc in pipeline.process(docs):
        key = None if doc.dropped else key_step.key(doc)
        signature = key[0].tolist() if key else None
        shingles = key[1].tolist() if key and isinstance(key[1], np.ndarray) else None
        out.append((doc.id, doc.text, doc.drop_reason, repr(doc.metadata), signature, shingles))
    return out


def test_documents_are_identical_with_and_without_the_kernels(monkeypatch):
    kernels = _kernels()
    plain = _documents_through_default_steps(monkeypatch, None)
    fast = _documents_through_default_steps(monkeypatch, kernels)
    assert sum(1 for d in plain if d[2] is None) >= 5  # articles kept, so their signals and keys compare
    assert fast == plain


def test_language_model_from_the_cache_equals_py3langid_loading_it(tmp_path, monkeypatch):
    import numpy as np

    from pipeline.s5_filter import langid_fast

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    packed = langid_fast.FastLanguageIdentifier.from_model_file(langid_fast.MODEL_FILE, norm_probs=True)
    first = langid_fast.load_identifier()  # writes the copy: the model's arrays and the derived tables
    (folder,) = (tmp_path / "newsclean").glob("langid-*-v2")
    names = [f"{name}.npy" for name in langid_fast._TABLES]
    assert sorted(p.name for p in folder.iterdir()) == sorted([*names, langid_fast.SUMS])
    cached = langid_fast.load_identifier()  # maps it
    for model in (first, cached):
        assert np.array_equal(model.nb_ptc, packed.nb_ptc) and np.array_equal(model.nb_pc, packed.nb_pc)
        assert model.nb_ptc.dtype == packed.nb_ptc.dtype
        assert np.array_equal(np.asarray(model.tk_nextmove), np.frombuffer(packed.tk_nextmove, np.uint32))
        assert model.tk_output == packed.tk_output and list(model.tk_row) == list(packed.tk_row)
        assert model._rowbase == packed._rowbase
        assert model.nb_classes == packed.nb_classes and model._fast and model._depth == packed._depth
        for name in ("_nextmove", "_rowbase_np", "_two", "_two_rows", "_fold", "_output_np", "_ptc32"):
            got, expected = getattr(model, name), getattr(packed, name)
            assert got.dtype == expected.dtype and np.array_equal(got, expected), name
            assert type(got) is np.ndarray and got.flags.writeable and got.flags.c_contiguous, name
        for text in _texts()[::4]:
            assert model.classify(text[:1000]) == packed.classify(text[:1000])
            assert model.classify(text[:20]) == packed.classify(text[:20])  # py3langid's own walk
    (folder / "fold.npy").write_bytes(b"damaged")
    assert langid_fast._cached_tables() is None  # py3langid's loader then
    assert langid_fast.load_identifier().classify("Hà Nội mùa thu") == packed.classify("Hà Nội mùa thu")


def test_language_model_cache_damaged_inside_its_arrays_is_not_used(tmp_path, monkeypatch):
    """Bytes of a cached array changed, its size and header intact (a bad disk block, a stray
    write): the copy is not used (py3langid's loader is), and the next load writes a good copy."""
    import numpy as np

    from pipeline.s5_filter import langid_fast

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    good = langid_fast._cached_tables()
    assert good is not None
    expected = {name: np.array(array) for name, array in good.items()}
    del good
    (folder,) = (tmp_path / "newsclean").glob("langid-*")
    for name in ("ptc32", "fold"):
        path = folder / f"{name}.npy"
        data = bytearray(path.read_bytes())
        data[-3] ^= 0x40  # in the array's last element, past the header
        path.write_bytes(bytes(data))
        assert langid_fast._cached_tables() is None
        tables = langid_fast._cached_tables()  # written again
        assert tables is not None and all(np.array_equal(tables[n], expected[n]) for n in expected), name


def test_ngram_kernel_equals_numpy_path_on_random_repetitive_token_streams():
    import numpy as np

    from pipeline.s5_filter import quality_signals as quality

    kernels = _kernels()
    rng = np.random.default_rng(16)
    for _ in range(500):  # small vocabularies: many repeated n-grams, ties, runs of one token
        n, vocab = int(rng.integers(2, 300)), int(rng.integers(1, 20))
        hashes = rng.integers(1, vocab + 1, n).astype(np.uint64) * np.uint64(0x100000001B3)
        lengths = rng.integers(1, 9, n).astype(np.int64)
        assert quality._ngram_signals_compiled(kernels, hashes, lengths) == quality._ngram_signals(
            hashes, lengths
        )


# --- loaded once in the parent, shared by the forked workers -----------------------------------

_SIGNATURES_AFTER_WARM = """
import glob, json, os
os.environ["NEWSCLEAN_JIT"] = "1"
from pipeline import Pipeline, _jit
from pipeline.document import Document
from pipeline.s3_clean.template_lines import TemplateLines
from pipeline.s6_dedup.exact import ExactDedup
from pipeline.s6_dedup.near import NearDedup

_jit.warm()
kernels = [
    "minhash_signature", "tokenize_points", "profile_counts", "ngram_counts", "langid_features", "shingle_grams",
    "word_counts", "joined_words", "char_counts", "old_style_pair", "simhash",
]
warmed = {name: len(getattr(_jit, name).signatures) for name in kernels}
pipeline = Pipeline()
(options,) = [o for n, o in pipeline.config.steps if n == "near_dedup"]
key_step = NearDedup(options)
(template_options,) = [o for n, o in pipeline.config.steps if n == "template_lines"]
template_step = TemplateLines(template_options)
texts = [open(p, encoding="utf-8").read() for p in sorted(glob.glob("seeds/*.txt"))]
docs = [Document(id=str(i), text=t, media_type="text") for i, t in enumerate(texts)]
kept = [(key_step.key(d), ExactDedup().key(d), template_step.key(d)) for d in pipeline.process(docs) if not d.dropped]
print(json.dumps([warmed, {name: len(getattr(_jit, name).signatures) for name in kernels}, len(kept)]))
"""


def test_warmed_kernels_cover_the_argument_types_the_steps_pass():
    # a fresh process: a signature compiled by another test would hide a type that warm() misses
    import json
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("numba")
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", _SIGNATURES_AFTER_WARM], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    warmed, after, kept = json.loads(done.stdout.strip().splitlines()[-1])
    assert kept >= 5  # articles went through quality_signals and near_dedup's key
    assert warmed == after and all(n == 1 for n in warmed.values())


@pytest.mark.parametrize("workers", [2, 1])  # 1: the tasks run in the run's process, kernels from the start
def test_models_load_in_the_parent_before_the_workers_fork_and_are_dropped_after(
    tmp_path, monkeypatch, workers
):
    import gc
    from pathlib import Path

    from pipeline import Pipeline
    from pipeline.s5_filter import language

    calls: list = []
    preload, unload = language.LanguageFilter.preload, language.LanguageFilter.unload

    def recorded_preload(self, docs):
        preload(self, docs)
        calls.append((docs, language._identifier.cache_info().currsize))

    monkeypatch.setattr(language.LanguageFilter, "preload", recorded_preload)
    monkeypatch.setattr(
        language.LanguageFilter, "unload", lambda self: calls.append("unload") or unload(self)
    )
    language._identifier.cache_clear()
    seeds = Path(__file__).resolve().parents[1] / "seeds"
    Pipeline(workers=workers, progress="off").run(seeds, tmp_path / "out")
    n_seeds = len(list(seeds.glob("*.txt")))
    assert calls == [
        (n_seeds // workers, 1),
        "unload",
    ]  # loaded in this process before the fork, then dropped
    assert language._identifier.cache_info().currsize == 0
    assert gc.get_freeze_count() == 0  # the parent's objects are collectable again after the map


def test_is_sentence_reads_the_last_characters_as_the_regex_did():
    import random
    import re

    from pipeline.s3_clean.lines import is_sentence

    regex = re.compile(r"(?:[.…]|[.!?…][\"'”’»)\]])$")  # the former test, searched over the line
    alphabet = list(".…!?\"'”’»)] \nab")
    rng = random.Random(16)
    lines = ["", ".", "…", "a", "!”", "?\n", ".\n\n", "x y z.\n", *_texts()]
    lines += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(5000)]
    for text in lines:
        for min_words in (1, 2, 6):
            expected = bool(regex.search(text)) and text.count(" ") + 1 >= min_words
            assert is_sentence(text, min_words) == expected, (text, min_words)
