"""The datatrove side of the benchmark: run inside the datatrove venv
(benchmarks/.venv-datatrove, made by run_all.py), never imported by newsclean.

The job is the closest datatrove equivalent of newsclean's default pipeline on
JSONL news articles, as FineWeb-2 runs it for Vietnamese:

  stage 0  JsonlReader -> GopherRepetitionFilter -> GopherQualityFilter -> C4QualityFilter
           -> JsonlWriter(filtered) -> MinhashDedupSignature           (tasks = input files)
  stage 1  MinhashDedupBuckets                                          (tasks = buckets)
  stage 2  MinhashDedupCluster                                          (1 task)
  stage 3  JsonlReader(filtered) -> MinhashDedupFilter -> JsonlWriter(output)

Word tokenizer: datatrove's own choice for Vietnamese (spaCy + pyvi). Language
id is left out on both sides of the comparison only if its model cannot be had
offline (datatrove downloads its fastText model at run time).

Prints one JSON object: seconds per stage and in total, documents read, kept
after the filters and after dedup.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

# frequent Vietnamese function words (the Gopher stop-word rule needs some in the
# language; its default list is English and would drop every Vietnamese page)
VI_STOP_WORDS = [
    "và",
    "của",
    "là",
    "có",
    "được",
    "trong",
    "cho",
    "với",
    "không",
    "các",
    "những",
    "một",
    "này",
    "đã",
    "người",
    "để",
    "khi",
    "từ",
    "đến",
    "ra",
    "về",
    "thì",
    "cũng",
    "như",
    "theo",
    "tại",
    "sẽ",
    "đó",
    "vào",
    "lại",
    "nhưng",
    "bị",
    "do",
    "nên",
    "mà",
    "còn",
    "rất",
    "nhiều",
]
LANGUAGE = "vie_Latn"


def count_lines(folder: Path) -> int:
    n = 0
    for path in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(path, "rb") as fh:
            n += sum(1 for _ in fh)
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True, help="folder of .jsonl.gz files (id, text)")
    ap.add_argument("--work", required=True, help="scratch folder (created)")
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args(argv)

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
    )
    from datatrove.pipeline.filters import C4QualityFilter, GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    src, work = Path(args.input), Path(args.work)
    files = sorted(src.glob("*.jsonl.gz"))
    tasks = len(files)
    minhash = MinhashConfig(hash_config=HashConfig(precision=64))
    logs = work / "logs"

    def executor(pipeline, n_tasks, name):
        return LocalPipelineExecutor(
            pipeline=pipeline,
            tasks=n_tasks,
            workers=min(args.workers, n_tasks),
            logging_dir=str(logs / name),
            skip_completed=False,
        )

    stages = {
        "filter+signatures": executor(
            [
                JsonlReader(str(src)),
                GopherRepetitionFilter(language=LANGUAGE),
                GopherQualityFilter(language=LANGUAGE, stop_words=VI_STOP_WORDS),
                C4QualityFilter(language=LANGUAGE, filter_no_terminal_punct=False),  # as FineWeb runs it
                JsonlWriter(str(work / "filtered")),
                MinhashDedupSignature(
                    output_folder=str(work / "signatures"), config=minhash, language=LANGUAGE
                ),
            ],
            tasks,
            "s0",
        ),
        "buckets": executor(
            [
                MinhashDedupBuckets(
                    input_folder=str(work / "signatures"), output_folder=str(work / "buckets"), config=minhash
                ),
            ],
            minhash.num_buckets,
            "s1",
        ),
        "cluster": executor(
            [
                MinhashDedupCluster(
                    input_folder=str(work / "buckets"), output_folder=str(work / "remove_ids"), config=minhash
                ),
            ],
            1,
            "s2",
        ),
        "filter_dups": executor(
            [
                JsonlReader(str(work / "filtered")),
                MinhashDedupFilter(input_folder=str(work / "remove_ids")),
                JsonlWriter(str(work / "output")),
            ],
            tasks,
            "s3",
        ),
    }
    seconds = {}
    t0 = time.perf_counter()
    for name, ex in stages.items():
        start = time.perf_counter()
        ex.run()
        seconds[name] = round(time.perf_counter() - start, 3)
    total = time.perf_counter() - t0
    result = {
        "seconds": round(total, 3),
        "stage_seconds": seconds,
        "docs_in": sum(1 for f in files for _ in gzip.open(f, "rb")),
        "kept_after_filters": count_lines(work / "filtered"),
        "kept": count_lines(work / "output"),
        "tasks": tasks,
        "workers": args.workers,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
