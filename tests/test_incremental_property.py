"""Property (issue 18, C1 and D1): runs over a crawl folder that keeps changing give the corpus one
fresh run over the final folder gives: the same kept ids and texts, the same `dup_of`.

Hypothesis generates the edits between runs: records appended, records removed, a file
renamed, a run with --reprocess; in either dedup mode (driver, sharded). Texts are near-copies of a few articles
(`state_helpers.text`), so most records are exact or near duplicates of others.
Incremental runs rank documents of earlier runs first (README, "Scheduled runs"), so
new records go where a fresh run ranks them last too: appended to the last file, or
in a new file (or a renamed one) whose name sorts after the others. Vanished inputs
are retired (`run.vanished_inputs: retire`), as a fresh run does not see them.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from state_helpers import dedup_config, dup_of, run, text, view, write_jsonl

RECORD = st.tuples(st.integers(0, 4), st.integers(0, 2))  # (article, variant): 5 cliques of near-copies
EDIT = st.one_of(
    st.tuples(st.just("append"), st.lists(RECORD, min_size=1, max_size=3), st.booleans()),  # new file?
    st.tuples(st.just("remove"), st.integers(0, 99), st.integers(0, 99)),
    st.tuples(st.just("rename"), st.integers(0, 99), st.just(0)),
)
RUN = st.tuples(st.lists(EDIT, min_size=1, max_size=3), st.booleans())  # (edits, --reprocess)
EXAMPLES = {"run": 0, "runs": 0, "documents": 0, "driver": 0, "sharded": 0}


class Crawl:
    """The crawl folder as a model: file name -> [(id, text)]; names sort by a growing counter."""

    def __init__(self, directory: Path, first: list[list[tuple[int, int]]]):
        self.dir, self.files, self.next_file, self.next_id = directory, {}, 0, 0
        for records in first:
            self.files[self._new_name()] = [self._record(r) for r in records]
        self.write()

    def _new_name(self) -> str:
        self.next_file += 1
        return f"f{self.next_file:03d}.jsonl"

    def _record(self, pick: tuple[int, int]) -> tuple[str, str]:
        self.next_id += 1
        return f"r{self.next_id:03d}", text(*pick)

    def apply(self, edit: tuple) -> None:
        kind, a, b = edit
        names = sorted(self.files)
        if kind == "append":  # to the last file, or to a new one sorting after every other
            name = self._new_name() if b or not names else names[-1]
            self.files.setdefault(name, []).extend(self._record(r) for r in a)
        elif kind == "remove" and names:
            records = self.files[names[a % len(names)]]
            if records:
                del records[b % len(records)]
        elif kind == "rename" and names:
            self.files[self._new_name()] = self.files.pop(names[a % len(names)])
        self.write()

    def write(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        for name, records in self.files.items():
            write_jsonl(self.dir / name, records)


pytestmark = pytest.mark.usefixtures("no_report")  # tests/conftest.py


@pytest.mark.slow
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    first=st.lists(st.lists(RECORD, min_size=1, max_size=4), min_size=1, max_size=3),
    runs=st.lists(RUN, min_size=1, max_size=3),
    dedup=st.sampled_from(["driver", "sharded"]),
)
def test_incremental_runs_equal_one_fresh_run(first, runs, dedup):
    with tempfile.TemporaryDirectory(prefix="newsclean-property-") as tmp:
        tmp = Path(tmp)
        config = dedup_config(tmp, vanished_inputs="retire")
        crawl, out = Crawl(tmp / "crawl", first), tmp / "out"
        run(config, crawl.dir, out, dedup)
        for edits, reprocess in runs:
            for edit in edits:
                crawl.apply(edit)
            run(config, crawl.dir, out, dedup, reprocess=reprocess)
        reference = tmp / "fresh"
        run(config, crawl.dir, reference, dedup)
        assert view(out) == view(reference)
        assert dup_of(out) == dup_of(reference)
        from pipeline.commands.verify import verify

        assert verify(out).problems == []
        EXAMPLES["run"] += 1
        EXAMPLES[dedup] += 1
        EXAMPLES["runs"] += 1 + len(runs)
        EXAMPLES["documents"] += len(view(reference))


@pytest.mark.slow  # it counts the examples of the slow property test above
def test_property_ran_its_examples():
    """The budget is spent on real examples (printed with -s: examples, runs, kept documents)."""
    print(f"\nincremental property: {EXAMPLES}")
    assert EXAMPLES["run"] >= 10 and EXAMPLES["driver"] and EXAMPLES["sharded"]
