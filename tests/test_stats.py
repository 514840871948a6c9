"""`newsclean stats`: the manifest's figures for one run, or per run and in total for a corpus."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from pipeline.cli import main

ROOT = Path(__file__).resolve().parents[1]


def row(output: str, first_cell: str) -> list[str]:
    line = next(line for line in output.splitlines() if line.startswith(first_cell))
    return re.split(r"\s{2,}", line.strip())


def test_stats_of_one_run_and_of_a_corpus(tmp_path, capsys):
    out = tmp_path / "corpus"
    seeds = sorted((ROOT / "seeds").glob("*.txt"))
    for n, batch in enumerate([seeds[:2], seeds[2:3]]):  # two runs over different inputs
        inputs = tmp_path / f"in{n}"
        inputs.mkdir()
        for seed in batch:
            shutil.copy(seed, inputs)
        (inputs / f"empty{n}.txt").write_bytes(b"")
        assert main(["run", "-i", str(inputs), "-o", str(out), "-q", "-w", "1"]) == 0
    (out / "runs" / "99999999T999999999Z-00000").mkdir()  # unfinished: no manifest
    capsys.readouterr()
    runs = sorted(p for p in (out / "runs").iterdir() if (p / "manifest.json").exists())
    manifests = [json.loads((p / "manifest.json").read_text()) for p in runs]

    assert main(["stats", str(out)]) == 0
    text = capsys.readouterr().out
    for m in manifests:
        cells = row(text, m["run_id"])
        c = m["counts"]
        assert [int(x) for x in cells[2:6]] == [c["documents"], c["kept"], c["dropped"], c["errors"]]
    total = row(text, "total (2 runs)")
    assert [int(x) for x in total[1:5]] == [
        sum(m["counts"][k] for m in manifests) for k in ("documents", "kept", "dropped", "errors")
    ]
    assert "decode:empty: 2" in text  # reasons summed over the runs
    assert "1 unfinished run ignored: 99999999T999999999Z-00000" in text
    weather = sum(
        s.get("counters", {}).get("lines_removed.weather_widget", 0)
        for m in manifests
        for s in m["stages"].values()
    )
    assert weather > 0 and row(text, "  weather_widget") == ["weather_widget", str(weather)]

    assert main(["stats", str(runs[0])]) == 0
    one = capsys.readouterr().out
    assert one.startswith(f"run {manifests[0]['run_id']}: ")
    for name, stage in manifests[0]["stages"].items():
        assert [int(x) for x in row(one, name)[1:3]] == [stage["in"], stage["kept"]]


def test_stats_without_runs_fails_with_a_reason(tmp_path, capsys):
    assert main(["stats", str(tmp_path)]) == 1
    assert "no finished run" in capsys.readouterr().err
