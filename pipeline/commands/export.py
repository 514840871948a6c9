"""`newsclean export OUTPUT DEST`: the corpus as it stands, as one clean set of shards
(and `newsclean verify DEST`: an export checked against its manifest).

A corpus folder holds every run's shards, including records that a later run
superseded (a changed input, `--reprocess`, `refilter`); globbing
`runs/*/part-*` reads those too. `export` writes the corpus view
(`pipeline/corpus.py`: finished runs, superseded records left out) as fresh
shards `part-NNNNN.jsonl.gz` (or `.zst`, or plain) and `manifest.json` with the
record count, each shard's sha256 and the source corpus with its run ids.

DEST is a local folder or an fsspec URL (`s3://bucket/prefix`, `gs://…`). The
manifest is the commit point, as for a run: an existing one is removed first,
the shards are written, and the new manifest is written last (atomically: temp
file and rename, or one upload), so a killed export leaves DEST without a
manifest, never with one that does not describe its shards. DEST may hold
nothing but a previous export (or what a killed export left); shards of the
previous export that the new one does not rewrite are deleted before the new
manifest is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
from pathlib import Path

import orjson

from pipeline import __version__
from pipeline.corpus import MANIFEST, finished_runs, iter_kept
from pipeline.faults import checkpoint
from pipeline.fs import (
    COMPRESSIONS,
    StorageError,
    filesystem,
    is_url,
    join,
    local_path,
    open_decompressed,
    write_bytes_atomic,
)
from pipeline.log import log
from pipeline.s7_write.jsonl import ShardWriter

EXPORT_VERSION = 1
EXPORT_FILE = re.compile(r"^(manifest\.json|part-\d+\.jsonl(\.gz|\.zst)?|\..*)$")  # hidden: temp files


class ExportError(Exception):
    """An export that cannot be done (no corpus, DEST holds other files): one line."""


def register(sub) -> None:
    p = sub.add_parser(
        "export",
        help="write the corpus as it stands (superseded records left out) as fresh "
        "shards and a manifest, to a folder or a URL (s3://, gs://, hf://)",
    )
    p.add_argument("output", help="corpus directory to read")
    p.add_argument("dest", help="folder or fsspec URL to write to (empty, or a previous export)")
    p.add_argument("--shard-size", type=int, default=50_000, help="records per shard (default 50000)")
    p.add_argument(
        "--compression", choices=COMPRESSIONS, default="gzip", help="shard compression (default gzip)"
    )
    p.add_argument(
        "--compresslevel", type=int, help="gzip 0-9, zlib-ng's levels (default 6), zstd 1-22 (default 3)"
    )
    p.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    try:
        manifest = export_corpus(
            args.output, args.dest, args.shard_size, args.compression, args.compresslevel
        )
    except (ExportError, StorageError, OSError) as exc:  # OSError: the backends' (no bucket, access denied)
        log.error(f"cannot export: {exc}")
        return 1
    print(
        f"exported {manifest['records']} documents from {len(manifest['source']['runs'])} run(s) "
        f"in {len(manifest['shards'])} shard(s) to {args.dest}"
        + (
            f" ({manifest['source']['left_out']} superseded records left out)"
            if manifest["source"]["left_out"]
            else ""
        )
    )
    return 0


def export_corpus(
    output: str | Path,
    dest: str | Path,
    shard_size: int = 50_000,
    compression: str = "gzip",
    compresslevel: int | None = None,
) -> dict:
    """Write the corpus view of `output` to `dest` (folder or URL); returns the export's manifest."""
    if compression not in COMPRESSIONS:
        raise ExportError(f"compression must be one of {', '.join(COMPRESSIONS)}, not {compression!r}")
    if shard_size < 1:
        raise ExportError(f"--shard-size must be at least 1, not {shard_size}")
    level = compresslevel if compresslevel is not None else (3 if compression == "zstd" else 6)
    levels = {"gzip": range(0, 10), "zstd": range(1, 23)}.get(compression)
    if levels and level not in levels:
        raise ExportError(
            f"--compresslevel must be {levels.start}-{levels.stop - 1} for {compression}, not {level}"
        )
    runs = finished_runs(output)
    if not runs:
        raise ExportError(f"{output}: no finished run (no runs/*/{MANIFEST})")
    dest = str(dest)
    previous = _prepare_dest(dest)
    writer = ShardWriter(dest, "part", shard_size, compression, level)
    exported = 0
    try:
        for _run, record in iter_kept(output, runs):
            writer.write(record)
            exported += 1
            if exported % shard_size == 0:
                checkpoint("export_shard")
        shards = writer.close()
    except BaseException:
        writer.abort()
        raise
    _remove_files(dest, previous - {shard["file"] for shard in shards})
    in_runs = sum(shard["records"] for run in runs for shard in run.manifest.get("shards", []))
    manifest = {
        "kind": "export",
        "export_version": EXPORT_VERSION,
        "pipeline": "newsclean",
        "pipeline_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "records": exported,
        "compression": compression,
        "source": {
            "corpus": output if is_url(output) else str(Path(output).resolve()),
            "runs": [run.id for run in runs],
            "left_out": in_runs - exported,
        },
        "shards": shards,
    }
    checkpoint("export_manifest")
    write_bytes_atomic(join(dest, MANIFEST), orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return manifest


def _prepare_dest(dest: str) -> set[str]:
    """Make DEST ready: created if missing, its old manifest removed (DEST is no export until the
    new one is written). Returns the shard files already there; refuses a DEST holding other files."""
    names = _list(dest)
    foreign = sorted(n for n in names if not EXPORT_FILE.match(n))
    if foreign:
        raise ExportError(
            f"{dest}: not empty and not a newsclean export (holds {', '.join(foreign[:3])}"
            f"{', …' if len(foreign) > 3 else ''}); export into an empty folder"
        )
    if MANIFEST in names:
        _remove_files(dest, {MANIFEST})
    _remove_files(dest, {n for n in names if n.startswith(".part-")})  # temp files of a killed export
    return {n for n in names if n.startswith("part-")}


def _list(dest: str) -> set[str]:
    if not is_url(dest):
        folder = local_path(dest)
        if folder.exists() and not folder.is_dir():
            raise ExportError(f"{dest}: not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        return {p.name for p in folder.iterdir()}
    fs, path = filesystem(dest)
    try:
        entries = fs.ls(path, detail=False, refresh=True)
    except FileNotFoundError:
        return set()
    return {entry.rstrip("/").rsplit("/", 1)[-1] for entry in entries}


def _remove_files(dest: str, names: set[str]) -> None:
    for name in sorted(names):
        if is_url(dest):
            fs, path = filesystem(join(dest, name))
            fs.rm_file(path)
        else:
            (local_path(dest) / name).unlink(missing_ok=True)


# --- reading and checking an export (`read_corpus`, `newsclean verify DEST`) -------------------------


def is_export(path: str | Path) -> bool:
    """Does `path` (folder or URL) hold an export's manifest (not a run's, not a corpus)?"""
    path = str(path)
    if not is_url(path) and not (local_path(path) / MANIFEST).is_file():
        return False
    try:
        return read_manifest(path).get("kind") == "export"
    except (OSError, orjson.JSONDecodeError, AttributeError):
        return False


def _open(dest: str, name: str):
    if not is_url(dest):
        return open(local_path(dest) / name, "rb")
    fs, inner = filesystem(join(dest, name))
    return fs.open(inner, "rb")


def read_manifest(dest: str) -> dict:
    with _open(dest, MANIFEST) as fh:
        return orjson.loads(fh.read())


def iter_export(dest: str, manifest: dict | None = None):
    """The records of an export, shard by shard in the manifest's order."""
    for shard in (manifest or read_manifest(dest))["shards"]:
        with _open(dest, shard["file"]) as raw, open_decompressed(shard["file"], raw) as fh:
            for line in fh:
                if line.strip():
                    yield orjson.loads(line)


def verify_export(dest: str) -> tuple[list[str], int]:
    """(problems, records) of an export: every shard's sha256, size and record count as its
    manifest says, the total as well, and ids unique. Shards are streamed, read once."""
    problems: list[str] = []
    try:
        manifest = read_manifest(dest)
    except (OSError, orjson.JSONDecodeError) as exc:
        return [f"{join(dest, MANIFEST)}: unreadable: {type(exc).__name__}: {exc}"], 0
    ids: set[str] = set()
    total = 0
    for shard in manifest.get("shards", []):
        where = join(dest, shard["file"])
        records = 0
        try:
            with _open(dest, shard["file"]) as raw:
                hashed = _HashingReader(raw)
                with open_decompressed(shard["file"], io.BufferedReader(hashed)) as fh:
                    for line in fh:
                        if not line.strip():
                            continue
                        records += 1
                        record_id = orjson.loads(line).get("id")
                        if record_id in ids:
                            problems.append(f"{where}:{records}: duplicate id {record_id!r}")
                        ids.add(record_id)
                hashed.drain()
        except Exception as exc:  # missing, truncated, not the compression its name says, not JSON
            problems.append(f"{where}: unreadable: {type(exc).__name__}: {exc}")
            continue
        if hashed.sha256.hexdigest() != shard.get("sha256") or hashed.bytes != shard.get("bytes"):
            problems.append(f"{where}: sha256 or size differs from the manifest")
        if records != shard.get("records"):
            problems.append(f"{where}: {records} records, manifest says {shard.get('records')}")
        total += records
    if total != manifest.get("records"):
        problems.append(
            f"{join(dest, MANIFEST)}: {total} records in the shards, manifest says {manifest.get('records')}"
        )
    return problems, total


class _HashingReader(io.RawIOBase):
    """The bytes of a file as they are read, hashed on the way (one pass over a remote shard)."""

    def __init__(self, raw):
        self._raw, self.sha256, self.bytes = raw, hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self.sha256.update(data)
        self.bytes += len(data)
        return len(data)

    def drain(self) -> None:
        """Hash what the decompressor left unread (nothing, for a sound shard)."""
        while self.readinto(bytearray(1 << 16)):
            pass
