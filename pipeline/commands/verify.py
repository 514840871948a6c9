"""`newsclean verify OUTPUT`: check a corpus before anyone trains on it.

Every finished run: manifest present and well formed, every shard listed exists
with the sha256, size and record count the manifest says, counts add up, every
record valid against the schema of CONVENTIONS.md. Over the corpus view (all
finished runs, superseded records left out): ids unique, no two texts equal
after normalization. Unfinished runs and runs not yet applied to the state are
reported but are not errors (the next run completes or discards them).
The state (`verify_state.py`): the processed-inputs store against the manifests,
each dedup index against the corpus (digest, ids, sampled lookups), and no
near-duplicate pair among kept documents for a sample of them.
Exit status 0 when the corpus is sound, 1 otherwise, with one line per problem.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import orjson

from pipeline.corpus import MANIFEST, Run, from_input, read_jsonl, run_dirs, superseded
from pipeline.fs import INFLATE_ERRORS
from pipeline.log import log
from pipeline.s6_dedup.exact import content_hash
from pipeline.s7_write.records import OPTIONAL_FIELDS
from pipeline.state import STORE_FILE
from pipeline.summary import plural

MAX_SHOWN = 100  # problems printed; the count says how many there were
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
# `created`: a date-time with its UTC offset, or a plain date (CONVENTIONS.md)
ISO_CREATED = re.compile(r"^\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\d[+-]\d\d:\d\d)?$")
SHARD_NAME = re.compile(r"^(part|rejects)-\d+\.jsonl(\.gz|\.zst)?$")

STR, OPT_STR, INT, OPT_NUM, BOOL, DICT, LIST = "str", "str|null", "int", "number|null", "bool", "dict", "list"
KEPT_FIELDS = {"id": STR, "text": STR, "source": STR, "added": STR, "created": OPT_STR, "metadata": DICT}
KEPT_METADATA = {
    "title": OPT_STR,
    "author": OPT_STR,
    "section": OPT_STR,
    "url": OPT_STR,
    "language": OPT_STR,
    "language_score": OPT_NUM,
    "input_path": STR,
    "n_chars": INT,
    "n_words": INT,
    "removed": LIST,
    "content_hash": OPT_STR,
}
COUNT_LISTS = ("removed", "html_removed", "pii")  # counts by name: [{"rule": str, "n": int}, ...]
REJECT_FIELDS = {"id": STR, "reason": STR, "stage": STR, "detail": OPT_STR, "metadata": DICT}
MANIFEST_FIELDS = ("run_id", "config_hash", "inputs", "counts", "shards", "rejects")


def register(sub) -> None:
    p = sub.add_parser(
        "verify",
        help="check a corpus: manifests, shard hashes and counts, schema, unique ids, "
        "no exact duplicates, the state (inputs store, dedup indexes) against it",
    )
    p.add_argument("output", nargs="?", default="corpus", help="corpus directory (default: corpus)")
    p.set_defaults(func=cmd_verify)


def _type_ok(value, kind: str) -> bool:
    if value is None:
        return kind.endswith("|null")
    if kind.startswith("str"):
        return isinstance(value, str)
    if kind == INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind.startswith("number"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == BOOL:
        return isinstance(value, bool)
    if kind == LIST:
        return isinstance(value, list)
    return isinstance(value, dict)


def _count_list_ok(value) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, dict)
        and set(item) == {"rule", "n"}
        and isinstance(item["rule"], str)
        and _type_ok(item["n"], INT)
        for item in value
    )


def _fields(record: dict, schema: dict, prefix: str = "") -> list[str]:
    return [
        f"{prefix}{key}: expected {kind}, got {type(record.get(key)).__name__}"
        for key, kind in schema.items()
        if key not in record or not _type_ok(record.get(key), kind)
    ]


def kept_problems(record) -> list[str]:
    """Schema of a kept document (CONVENTIONS.md), and the figures that must agree with its text."""
    if not isinstance(record, dict):
        return ["not a JSON object"]
    problems = _fields(record, KEPT_FIELDS)
    if problems:
        return problems
    meta = record["metadata"]
    problems = _fields(meta, KEPT_METADATA, "metadata.")
    if not record["id"]:
        problems.append("id: empty")
    if not record["text"].strip():
        problems.append("text: empty")
    if not ISO_UTC.match(record["added"]):
        problems.append(f"added: not an ISO 8601 UTC time: {record['added']!r}")
    if record["created"] is not None and not ISO_CREATED.match(record["created"]):
        problems.append(f"created: not an ISO 8601 date-time with offset nor a date: {record['created']!r}")
    if not problems:
        if meta["n_chars"] != len(record["text"]):
            problems.append(f"metadata.n_chars: {meta['n_chars']}, text has {len(record['text'])}")
        if meta["n_words"] != len(record["text"].split()):
            problems.append(f"metadata.n_words: {meta['n_words']}, text has {len(record['text'].split())}")
        missing = [key for key in OPTIONAL_FIELDS if key not in meta]
        if missing:  # a field missing from some records makes Arrow/`datasets` type the column as JSON
            problems.append(f"metadata: missing {', '.join(missing)} (every record holds every field)")
        for name in COUNT_LISTS:
            if name in meta and not _count_list_ok(meta[name]):
                problems.append(f'metadata.{name}: expected a list of {{"rule": str, "n": int}}')
    return problems


def reject_problems(record) -> list[str]:
    if not isinstance(record, dict):
        return ["not a JSON object"]
    problems = _fields(record, REJECT_FIELDS)
    if not problems and "input_path" not in record["metadata"]:
        problems.append("metadata.input_path: missing")
    return problems


class Verifier:
    def __init__(self, output: Path):
        self.output = output
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.documents = self.rejects = 0  # kept documents in the corpus view, reject records
        self.superseded = 0  # kept records of earlier runs replaced by later runs (not in the corpus)
        self.kept_ids: list[str] = []  # of the corpus view

    def problem(self, where, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def run(self) -> None:
        if not (self.output / "runs").is_dir():
            self.problem(self.output, "not a corpus (no runs/ directory)")
            return
        runs = []
        for run_dir in run_dirs(self.output):
            if not (run_dir / MANIFEST).is_file():
                self.notes.append(f"{run_dir}: unfinished run (no {MANIFEST}): not part of the corpus")
                continue
            try:
                manifest = orjson.loads((run_dir / MANIFEST).read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:
                self.problem(run_dir / MANIFEST, f"unreadable: {exc}")
                continue
            missing = [k for k in MANIFEST_FIELDS if k not in manifest]
            if missing or not isinstance(manifest, dict):
                self.problem(run_dir / MANIFEST, f"missing {', '.join(missing)}")
                continue
            runs.append(Run(run_dir, manifest))
        for run in runs:
            self.check_files(run)
        pending = self.check_state(runs)
        self.check_records(runs)
        if (self.output / "state").is_dir() and not pending:
            from pipeline.commands.verify_state import state_problems

            try:
                for where, message in state_problems(self.output, runs, self.kept_ids):
                    self.problem(where, message)
            except (OSError, EOFError, *INFLATE_ERRORS, orjson.JSONDecodeError) as exc:  # reported above
                self.problem(
                    self.output / "state",
                    f"not checked, the corpus is unreadable: {type(exc).__name__}: {exc}",
                )

    def check_files(self, run: Run) -> None:
        m = run.manifest
        listed = set()
        for kind in ("shards", "rejects"):
            for shard in m[kind]:
                listed.add(shard["file"])
                path = run.dir / shard["file"]
                if not path.is_file():
                    self.problem(path, "listed in the manifest but missing")
                    continue
                data = path.read_bytes()
                if hashlib.sha256(data).hexdigest() != shard.get("sha256"):
                    self.problem(path, "sha256 differs from the manifest")
                if "bytes" in shard and len(data) != shard["bytes"]:
                    self.problem(path, f"{len(data)} bytes, manifest says {shard['bytes']}")
        for path in run.dir.iterdir():
            if SHARD_NAME.match(path.name) and path.name not in listed:
                self.problem(path, "shard not listed in the manifest")
        counts = m["counts"]
        kept, dropped, errors = counts.get("kept", 0), counts.get("dropped", 0), counts.get("errors", 0)
        if kept + dropped + errors != counts.get("documents"):
            self.problem(
                run.dir / MANIFEST,
                f"counts do not add up: {counts.get('documents')} documents, "
                f"{kept} kept + {dropped} dropped + {errors} errors",
            )
        if (run.dir / "_work").exists():
            self.notes.append(f"{run.dir}: leftover _work directory (removed by the next run)")

    def check_state(self, runs: list[Run]) -> bool:
        """Notes on runs not yet applied; True when there are some (the indexes lag until the next run)."""
        store = self.output / "state" / STORE_FILE
        if not store.exists():
            if runs:
                self.notes.append(
                    f"{store}: no processed-inputs store (corpus made before incremental runs?)"
                )
            return False
        try:
            with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
                applied = {row[0] for row in db.execute("SELECT run_id FROM runs")}
        except sqlite3.DatabaseError as exc:
            self.problem(store, f"unreadable: {exc}")
            return True
        pending = False
        for run in runs:
            if run.id not in applied:
                pending = True
                self.notes.append(
                    f"{run.dir}: finished but not yet applied to the state "
                    "(the next run completes its commit; the indexes are checked after it)"
                )
        return pending

    def check_records(self, runs: list[Run]) -> None:
        replaced = superseded(runs)
        ids: dict[str, str] = {}
        texts: dict[str, str] = {}
        for run in runs:
            gone = replaced.get(run.id, set())
            for kind, check in (("shards", kept_problems), ("rejects", reject_problems)):
                for shard in run.manifest[kind]:
                    path = run.dir / shard["file"]
                    if not path.is_file():
                        continue
                    n = 0
                    try:
                        for n, record in enumerate(read_jsonl(path), 1):
                            problems = check(record)
                            for message in problems:
                                self.problem(f"{path}:{n}", message)
                            if kind != "shards":
                                continue
                            if gone and isinstance(record, dict) and from_input(record, gone):
                                self.superseded += 1
                            else:
                                self.documents += 1
                                if not problems:
                                    self.check_unique(record, f"{path}:{n}", ids, texts)
                                    self.kept_ids.append(record["id"])
                    except (OSError, EOFError, *INFLATE_ERRORS, orjson.JSONDecodeError) as exc:
                        self.problem(f"{path}:{n + 1}", f"unreadable: {type(exc).__name__}: {exc}")
                    if n != shard.get("records"):
                        self.problem(path, f"{n} records, manifest says {shard.get('records')}")
                    if kind == "rejects":
                        self.rejects += n

    def check_unique(self, record: dict, where: str, ids: dict, texts: dict) -> None:
        first = ids.setdefault(record["id"], where)
        if first != where:
            self.problem(where, f"duplicate id {record['id']!r} (first at {first})")
        digest = content_hash(record["text"])
        first = texts.setdefault(digest, where)
        if first != where:
            self.problem(where, f"exact duplicate of the text at {first}")


def verify(output: str | Path) -> Verifier:
    verifier = Verifier(Path(output))
    verifier.run()
    return verifier


def cmd_verify(args) -> int:
    from pipeline.commands.export import is_export, verify_export

    if is_export(args.output):  # an export (`newsclean export`): its shards against its manifest
        problems, records = verify_export(args.output)
        for line in problems[:MAX_SHOWN]:
            print(f"problem: {line}")
        if problems:
            log.error(
                f"verify: {args.output}: {plural(len(problems), 'problem')}",
                extra={"fields": {"event": "verify_failed", "problems": len(problems)}},
            )
            return 1
        print(f"newsclean verify: {args.output}: ok (export, {plural(records, 'document')})")
        return 0
    result = verify(args.output)
    for note in result.notes:
        print(f"note: {note}")
    for line in result.problems[:MAX_SHOWN]:
        print(f"problem: {line}")
    if len(result.problems) > MAX_SHOWN:
        print(f"... and {plural(len(result.problems) - MAX_SHOWN, 'more problem')}")
    if result.problems:
        log.error(
            f"verify: {args.output}: {plural(len(result.problems), 'problem')}",
            extra={"fields": {"event": "verify_failed", "problems": len(result.problems)}},
        )
        return 1
    left_out = f", {plural(result.superseded, 'superseded record')} left out" if result.superseded else ""
    print(
        f"newsclean verify: {args.output}: ok ({plural(result.documents, 'document')} in the corpus{left_out}, "
        f"{plural(result.rejects, 'reject')})"
    )
    return 0
