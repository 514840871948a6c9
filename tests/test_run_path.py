"""The run path: steps built once per process, one keep rule for both near-dup modes, one reject
layout and one manifest builder for runs and refilter runs."""

from __future__ import annotations

from collections import Counter

from corpus_helpers import article, small_config, write_articles

from pipeline import registry
from pipeline.commands.refilter import refilter
from pipeline.config import load_config
from pipeline.document import Document
from pipeline.runner import run_pipeline
from pipeline.s6_dedup.keep_rule import better, earlier_run_match, near_drop, this_run_match
from pipeline.s7_write.records import Rejection, dropped_candidate, kept_record, reject_record
from pipeline.step import Drop, Step

BUILT: Counter = Counter()


class CountBuilds(Step):
    """Passes every document on; counts how often the run builds it."""

    name = "count_builds"

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        BUILT["builds"] += 1

    def process(self, doc):
        pass


def with_step(config_path, step: str):
    text = config_path.read_text(encoding="utf-8")
    config_path.write_text(text.replace("  - step: normalize", f"  - step: {step}\n  - step: normalize"))
    return config_path


def test_steps_are_built_once_per_run_in_a_one_worker_run(tmp_path, monkeypatch):
    """The run's process builds its steps once: the config check, the dedup mode, the state check,
    the reduce and the inline map task all use them (they were built five times)."""
    monkeypatch.setitem(registry.STEPS, "count_builds", f"{__name__}:CountBuilds")
    config = load_config(with_step(small_config(tmp_path), "count_builds"))
    write_articles(tmp_path / "in", range(5))
    BUILT.clear()
    result = run_pipeline(config, [tmp_path / "in"], tmp_path / "out", workers=1)
    assert result.manifest["counts"]["kept"] == 5
    assert result.manifest["stages"]["count_builds"]["in"] == 5
    assert BUILT["builds"] == 1


def test_the_keep_rule_names_the_same_match_in_both_orders():
    """Own id reseen from an earlier run first, then the most similar, then an earlier run's document."""
    own_earlier = earlier_run_match("a", "a", 0.81, 7)
    other_earlier = earlier_run_match("a", "b", 0.95, 3)
    this_run = this_run_match(0.95, 1, "c")
    for candidates in ([own_earlier, other_earlier, this_run], [this_run, other_earlier, own_earlier]):
        best = None
        for match in candidates:
            best = better(best, match)
        assert best is own_earlier
    assert better(this_run, other_earlier) is other_earlier  # equal similarity: the earlier run's
    assert better(this_run_match(0.9, 1, "c"), this_run_match(0.9, 0, "d")).doc_id == "d"
    counters = Counter()
    drop = near_drop(42, other_earlier, "b", True, counters)
    assert drop == Drop(42, "near_duplicate", "jaccard 0.950 with b (earlier run)", "b")
    drop = near_drop(43, this_run, "c", False, counters)
    assert drop.detail == "estimated jaccard 0.950 with c" and drop.dup_of == "c"
    assert counters == {"earlier_run_matches": 1, "this_run_matches": 1}


def test_rejects_of_the_map_and_the_reduce_have_one_layout():
    doc = Document(
        id="p-1", text="Một đoạn văn.", metadata={"title": "Tiêu đề", "url": "https://vnexpress.net/a"}
    )
    doc.provenance["input_path"] = "a.txt"
    record = kept_record(doc, "2026-01-01T00:00:00Z", "")
    doc.drop("length_filter", "too_short", "13 chars < 200")
    mapped = reject_record(doc, "")
    reduced = dropped_candidate(
        record, Rejection.of_drop("exact_dedup", Drop(1, "exact_duplicate", "same", "p-0"), False)
    )
    assert list(mapped) == ["id", "reason", "stage", "detail", "error", "source", "metadata", "text"]
    assert list(reduced) == [
        "id",
        "reason",
        "stage",
        "detail",
        "error",
        "dup_of",
        "source",
        "metadata",
        "text",
    ]
    assert mapped["source"] == reduced["source"] == "vnexpress.net"
    assert mapped["text"] == reduced["text"] == "Một đoạn văn."
    assert reduced["metadata"]["title"] == mapped["metadata"]["title"] == "Tiêu đề"
    assert (reduced["stage"], reduced["reason"], reduced["dup_of"]) == (
        "exact_dedup",
        "exact_duplicate",
        "p-0",
    )


def test_a_refilter_manifest_has_the_run_manifest_layout(tmp_path):
    config_path = small_config(tmp_path)
    write_articles(tmp_path / "in", range(4))
    config = load_config(config_path)
    run = run_pipeline(config, [tmp_path / "in"], tmp_path / "out", workers=1).manifest
    again = refilter(config, tmp_path / "out")
    shared = ["manifest_version", "pipeline", "pipeline_version", "run_id", "started", "finished", "seconds"]
    figures = ["counts", "accounting", "stages", "shards", "rejects"]
    assert list(run)[:7] == shared and list(run)[-5:] == figures
    assert [k for k in again if k != "kind"][:7] == shared and list(again)[-5:] == figures
    assert again["manifest_version"] == run["manifest_version"]
    assert again["counts"]["documents"] == run["counts"]["kept"] == 4
    assert (
        again["accounting"]["check"]
        == f"4 = {again['counts']['kept']} kept + {again['counts']['dropped']} dropped + 0 errors"
    )


def test_the_reduce_counters_reach_the_manifest_in_both_dedup_modes(tmp_path):
    """near_dedup counts candidate and verified pairs in its reduce; both modes report them
    (the in-process mode used to leave them out of the manifest)."""
    write_articles(tmp_path / "in", range(3))
    near_copy = article(1).replace("Mã tin", "Mã số tin")  # one word more: a near-duplicate of page 1
    (tmp_path / "in" / "page-009.txt").write_text(near_copy, encoding="utf-8")
    counters = {}
    for mode in ("driver", "sharded"):
        config = load_config(small_config(tmp_path / mode, dedup=mode))
        manifest = run_pipeline(config, [tmp_path / "in"], tmp_path / mode / "out", workers=1).manifest
        assert manifest["dedup"] == mode
        counters[mode] = manifest["stages"]["near_dedup"].get("counters", {})
    for mode in ("driver", "sharded"):
        assert counters[mode]["candidate_pairs"] >= 1 and counters[mode]["verified_pairs"] >= 1, mode
    assert counters["driver"]["this_run_matches"] == counters["sharded"]["this_run_matches"] == 1
