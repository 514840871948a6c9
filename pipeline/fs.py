"""Files: compression by name (`.gz`, `.zst`) and storage by URL (fsspec).

Local paths are the default and never touch fsspec. A URL (`s3://bucket/prefix`,
`gs://…`, `hf://…`, `memory://…`) goes through fsspec; the backend for its scheme
is an optional extra (`pip install 'newsclean[s3]'`), and a missing one is
reported in one line.

Remote inputs are downloaded, file by file, into a local cache before a run
(`stage_inputs`): the readers, the content hashes of incremental runs and the
task planner then work on local files as they always do, and an input's ids
and `input_path` are the same as for a local copy of the same folder.
"""

from __future__ import annotations

import io
import os
import re
import struct
import zlib
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, cast

from zlib_ng import zlib_ng

from pipeline.s7_write.atomic import HashingFile, HashingWriter, write_all

COMPRESSIONS = ("gzip", "zstd", "none")
SUFFIX = {"gzip": ".gz", "zstd": ".zst", "none": ""}
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "hf": "hf"}
# A damaged gzip stream (header, data, CRC): zlib-ng raises its own error class (GzipReader below),
# warcio's stdlib zlib the other; a cut one raises EOFError.
_NG_ERROR = cast(type[Exception], zlib_ng.error)  # (its stubs call it an instance)
INFLATE_ERRORS = (zlib.error, _NG_ERROR)


class StorageError(Exception):
    """A storage URL that cannot be used (backend missing, bad URL, access refused): one line."""


class RemoteInputNotFound(StorageError):
    """An input URL with nothing behind it (no object, no object under the prefix)."""


# --- compression ---------------------------------------------------------------------------


def compression_of(name: str) -> str:
    lower = name.lower()
    if lower.endswith(".gz"):
        return "gzip"
    if lower.endswith(".zst"):
        return "zstd"
    return "none"


def strip_compression(name: str) -> str:
    """`page.html.gz` -> `page.html`, `docs.jsonl.zst` -> `docs.jsonl`."""
    suffix = SUFFIX[compression_of(name)]
    return name[: len(name) - len(suffix)] if suffix else name


class _InflatingReader(io.RawIOBase):
    """A raw reader of the decompressed bytes of `raw` (subclasses: `readinto`); it owns `raw`."""

    def __init__(self, raw: IO[bytes]):
        self._raw = raw
        self._pos = 0  # decompressed bytes read so far

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class ZstdReader(_InflatingReader):
    """The decompressed bytes of a `.zst` stream (all its frames).

    python-zstandard's own stream reader ends quietly when the last frame is cut
    short; this one raises EOFError then, as gzip does, so a truncated input
    becomes a `truncated` error record instead of silently losing its tail. The
    compressed side is read in small pieces so that one read never inflates to
    more than about 128 MB (zstd expands at most ~32,000x): bombs stay bounded.
    """

    _READ = 4096

    def __init__(self, raw: IO[bytes]):
        import zstandard

        super().__init__(raw)
        self._dctx = zstandard.ZstdDecompressor()
        self._dobj = self._dctx.decompressobj()
        self._pending = memoryview(b"")  # inflated, not yet read (a view: no copying of what is left)
        self._in_frame = False

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = self._raw.read(self._READ)
            if not chunk:
                if self._in_frame:
                    raise EOFError("zstd stream ended before the end of its last frame (truncated)")
                return 0
            self._pending = memoryview(self._inflate(chunk))
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self._pos += n
        return n

    def _inflate(self, data: bytes) -> bytes:
        out = []
        while data:
            self._in_frame = True
            out.append(self._dobj.decompress(data))
            if not self._dobj.eof:
                break
            data = self._dobj.unused_data  # the next frame starts here
            self._dobj = self._dctx.decompressobj()
            self._in_frame = False
        return b"".join(out)


@dataclass(frozen=True)
class GzipState:
    """A point of a `.gz` stream to resume inflating from: the inflater (a copy of the member's,
    not used again: resuming copies it once more), the compressed offset of the first byte it has
    not been given, and the decompressed position it stands at."""

    inflate: object  # zlib_ng's decompressobj (a type its stubs do not name)
    offset: int
    position: int


class GzipReader(_InflatingReader):
    """The decompressed bytes of a `.gz` stream (all its members), inflated by zlib-ng (~2-3x the
    stdlib's speed; any inflater gives the same bytes).

    Not zlib-ng's own GzipNGFile: it fills its buffer across a cut or a member's end and loses what
    it had inflated when the next member is damaged. Here, as with the stdlib's reader, a read
    ends with its member and what was inflated is returned before the error, so a cut file or a
    damaged later member keeps every record before it (damage inside a member costs the one read
    that meets it). A cut member raises EOFError; a damaged one zlib_ng.error (its header, data or
    CRC, checked by zlib-ng: wbits 31 is one gzip member). What a member inflates before its damage
    (a bad CRC or length: all of it) is read first, and the error comes with the read after it
    (`_before_damage`), as with the stdlib's reader.
    """

    _READ = 1 << 16

    def __init__(self, raw: IO[bytes], keep_starts: bool = False):
        super().__init__(raw)
        self._inflate: zlib_ng._Decompress | None = None  # the member being read; None between members
        self._input = b""  # compressed bytes not given to the inflater yet
        self._salvaged = b""  # inflated before a member's damage, not read yet
        self._damage: Exception | None = None  # raised once `_salvaged` is read
        self._keep_starts = keep_starts
        # with keep_starts: where the last read began, as a GzipState (None after salvaged bytes)
        self.last_start: GzipState | None = None

    @classmethod
    def resumed(cls, raw: IO[bytes], state: GzipState) -> GzipReader:
        """A reader of `raw` (a seekable file of the same bytes) from `state` on: its `tell()` is the
        state's position, and it reads what a reader from the start would read from there."""
        raw.seek(state.offset)
        reader = cls(raw)
        reader._inflate = state.inflate.copy()  # type: ignore[attr-defined]  # (state stays reusable)
        reader._pos = state.position
        return reader

    def readinto(self, buffer) -> int:
        if self._salvaged or self._damage is not None:
            return self._read_salvaged(buffer)
        while True:
            if not self._input:
                self._input = self._raw.read(self._READ)
                if not self._input:
                    if self._inflate is not None:
                        raise EOFError("Compressed file ended before the end-of-stream marker was reached")
                    return 0
            if self._inflate is None:
                self._input = self._input.lstrip(b"\0")  # zero padding after a member, as gzip allows
                if not self._input:
                    continue
                self._inflate = zlib_ng.decompressobj(wbits=31)
            # a copy (a few µs a read) to find what the member inflates before damage it may meet
            before = self._inflate.copy()  # type: ignore[attr-defined]  # (missing in zlib-ng's stubs)
            if self._keep_starts:  # the copy is also where this read starts (no further copy)
                self.last_start = GzipState(before, self._raw.tell() - len(self._input), self._pos)
            try:
                out = self._inflate.decompress(self._input, len(buffer))  # bounded: bombs stay small
            except _NG_ERROR as damage:
                self._salvaged, self._damage = _before_damage(before, self._input), damage
                self._input, self._inflate = b"", None
                return self._read_salvaged(buffer)
            if self._inflate.eof:  # the member ends in this piece: return its end on its own
                self._input, self._inflate = self._inflate.unused_data, None
            else:
                self._input = self._inflate.unconsumed_tail
            if out:
                buffer[: len(out)] = out
                self._pos += len(out)
                return len(out)

    def _read_salvaged(self, buffer) -> int:
        self.last_start = None  # `before_damage`'s pieces have no state to resume from
        if not self._salvaged:
            damage, self._damage = self._damage, None
            raise cast(Exception, damage)
        n = min(len(buffer), len(self._salvaged))
        buffer[:n], self._salvaged = self._salvaged[:n], self._salvaged[n:]
        self._pos += n
        return n


def _before_damage(inflate, data: bytes) -> bytes:
    """What `inflate` (a copy from before the call that failed) gives from `data` before the damage
    it met: fed in pieces, the piece that fails again byte by byte (only on this error path). The
    failed call inflated at most the read's size before the damage, so this is bounded too."""
    out = []
    for at in range(0, len(data), 512):
        piece_start = inflate.copy()
        try:
            out.append(inflate.decompress(data[at : at + 512]))
        except _NG_ERROR:
            for i in range(at, min(at + 512, len(data))):
                try:
                    out.append(piece_start.decompress(data[i : i + 1]))
                except _NG_ERROR:
                    break
            break
    return b"".join(out)


def open_decompressed(path: str | Path, fileobj: IO[bytes] | None = None) -> IO[bytes]:
    """`path` opened for reading, decompressed by its name (.gz, .zst); `fileobj` if already open."""
    kind = compression_of(str(path))
    raw = fileobj if fileobj is not None else open(path, "rb")
    if kind == "gzip":
        return io.BufferedReader(GzipReader(raw), buffer_size=1 << 16)
    if kind == "zstd":
        return io.BufferedReader(ZstdReader(raw), buffer_size=1 << 16)
    return raw


def skip_to(fh: IO[bytes], offset: int) -> None:
    """Move a decompressing reader forward to `offset` (decompressed), reading what lies between."""
    if fh.seekable():
        fh.seek(offset)
        return
    left = offset - fh.tell()
    while left > 0:
        chunk = fh.read(min(left, 1 << 20))
        if not chunk:
            return
        left -= len(chunk)


class BlockGzip:
    """One gzip member made of blocks of SIZE input bytes each deflated on its own, pigz's layout: a
    block starts from the 32 KB before it as its dictionary and ends byte-aligned (a sync flush), so
    the blocks can be compressed side by side in threads (zlib-ng releases the GIL) and the file is
    the same bytes for any number of threads, and however its input was cut into writes. Any gzip
    reader reads it as one ordinary member; the blocks cost ~5 bytes each."""

    SIZE = 1 << 18
    WINDOW = 1 << 15  # deflate's dictionary: what a block may refer back to
    HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # no name, no time stamp, OS unknown

    def __init__(self, fileobj: HashingWriter, level: int, pool: Executor | None = None):
        self._out, self._level, self._pool = fileobj, level, pool
        self._pending, self._window = bytearray(), b""
        self._crc = self._size = 0
        fileobj.write(self.HEADER)

    def write(self, data: bytes) -> int:
        self._pending += data
        whole = len(self._pending) - len(self._pending) % self.SIZE
        if whole:
            with memoryview(self._pending) as view:
                blocks = [bytes(view[at : at + self.SIZE]) for at in range(0, whole, self.SIZE)]
            del self._pending[:whole]  # from the front of a bytearray: no copy of the rest
            self._emit(blocks, last=False)
        return len(data)

    def close(self) -> None:
        """Compress what is left, end the member (CRC-32 and length); `fileobj` stays open."""
        self._emit([bytes(self._pending)], last=True)
        self._pending.clear()
        self._out.write(struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))

    def _emit(self, blocks: list[bytes], last: bool) -> None:
        windows = []
        for block in blocks:  # each block's dictionary: the last WINDOW bytes before it
            windows.append(self._window)
            history = block if len(block) >= self.WINDOW else self._window + block
            self._window = history[-self.WINDOW :]
        ends = [False] * (len(blocks) - 1) + [last]
        deflate = partial(_deflate_block, self._level)
        run = self._pool.map if self._pool is not None and len(blocks) > 1 else map
        out = run(deflate, blocks, windows, ends)
        for block, compressed in zip(blocks, out):
            self._crc = zlib_ng.crc32(block, self._crc)
            self._size += len(block)
            self._out.write(compressed)


def _deflate_block(level: int, block: bytes, window: bytes, last: bool) -> bytes:
    """Raw deflate of one block that may refer back into `window` (the bytes before it)."""
    if window:
        deflater = zlib_ng.compressobj(level, zlib_ng.DEFLATED, -15, 8, zlib_ng.Z_DEFAULT_STRATEGY, window)
    else:
        deflater = zlib_ng.compressobj(level, zlib_ng.DEFLATED, -15)
    return deflater.compress(block) + deflater.flush(zlib_ng.Z_FINISH if last else zlib_ng.Z_SYNC_FLUSH)


def compressing(
    fileobj: HashingWriter, compression: str, level: int, pool: Executor | None = None
) -> IO[bytes] | BlockGzip | HashingWriter:
    """A writer compressing into `fileobj`; closing it ends the stream but leaves `fileobj` open.
    Neither format stores a time stamp here, so the same records give byte-identical files.

    gzip is zlib-ng's (a dependency, never the system's zlib, which differs between distributions):
    its deflate gives the same bytes on every CPU its wheels run on (x86-64 with or without SSE4.2,
    AVX2, AVX-512; aarch64), so shards are the same on every machine with the same zlib-ng release
    (pinned to one minor in pyproject.toml). One gzip member in independent blocks (BlockGzip), which
    `pool`'s threads compress side by side; 1.5-1.9x faster than the stdlib's level 1 at the default
    level 2 (docs/notes/issue16-scale.md, "gzip")."""
    if compression == "gzip":
        return BlockGzip(fileobj, level, pool)
    if compression == "zstd":
        import zstandard

        # zstandard's stubs ask for IO[bytes]; it only calls write() and flush()
        return zstandard.ZstdCompressor(level=level).stream_writer(fileobj, closefd=False)  # type: ignore[arg-type]
    return fileobj


# --- storage by URL ---------------------------------------------------------------------------


def is_url(path: str | Path) -> bool:
    """A URL for fsspec (s3://, gs://, hf://, memory://, …); plain paths and file:// are local."""
    text = str(path)
    return bool(_URL.match(text)) and not text.startswith("file://")


def local_path(path: str | Path) -> Path:
    text = str(path)
    return Path(text[len("file://") :] if text.startswith("file://") else text)


def filesystem(url: str):
    """(fsspec filesystem, path inside it) for a URL; StorageError naming the extra to install."""
    try:
        import fsspec.core
    except ImportError:  # pragma: no cover - fsspec is a dependency
        raise StorageError(f"{url}: reading URLs needs fsspec (pip install fsspec)") from None
    scheme = url.split("://", 1)[0].lower()
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as exc:
        extra = EXTRAS.get(scheme)
        hint = f"pip install 'newsclean[{extra}]'" if extra else str(exc)
        raise StorageError(f"{url}: no backend for {scheme}:// installed ({hint})") from None
    except ValueError as exc:
        raise StorageError(f"{url}: {exc}") from None


def join(base: str, *names: str) -> str:
    return "/".join([base.rstrip("/"), *names]) if is_url(base) else str(Path(base, *names))


# --- writing: local temp + rename, or one upload -------------------------------------------


class RemoteHashingFile(HashingWriter):
    """A file being uploaded to a URL: the object appears only when `commit()` completes the
    upload (S3 and GCS make an object visible at the end of its upload, never half of it)."""

    def __init__(self, url: str):
        self.path = url
        fs, path = filesystem(url)
        super().__init__(fs.open(path, "wb"))

    def commit(self) -> None:
        self._fh.close()

    def abort(self) -> None:
        discard = getattr(self._fh, "discard", None)  # fsspec buffered files: drop the upload unfinished
        if discard is not None:
            discard()
        else:  # pragma: no cover - backends without discard
            self._fh.close()


def hashing_file(path: str | Path) -> HashingFile | RemoteHashingFile:
    """A writer that `commit()`s atomically to a local path or a URL and keeps its sha256 and size."""
    if is_url(path):
        return RemoteHashingFile(str(path))
    return HashingFile(local_path(path))


def write_bytes_atomic(path: str | Path, data: bytes) -> str:
    return write_all(hashing_file(path), data)


# --- reading inputs from a URL -----------------------------------------------------------------


def check_remote_inputs(inputs: Sequence[str | Path]) -> None:
    """Raise RemoteInputNotFound (before anything is written) for an input URL naming nothing."""
    for given in inputs:
        if not is_url(given):
            continue
        fs, path = filesystem(str(given))
        try:
            fs.invalidate_cache()
            found = fs.exists(path)
        except Exception as exc:  # the backends' errors (credentials, network, access) in one line
            raise StorageError(f"{given}: cannot read: {type(exc).__name__}: {exc}") from None
        if not found:
            raise RemoteInputNotFound(f"input not found: {given}")


def stage_inputs(inputs: list[str | Path], cache_dir: Path) -> list[str | Path]:
    """The inputs with every URL replaced by a local folder (or file) holding a copy of what it
    names, under `cache_dir/<scheme>/<bucket>/<prefix>`. A file already there with the same
    size and remote version tag (ETag, mtime) is not downloaded again."""
    return [_stage(str(given), Path(cache_dir)) if is_url(given) else given for given in inputs]


def _stage(url: str, cache_dir: Path) -> Path:
    fs, root = filesystem(url)
    scheme = url.split("://", 1)[0].lower()
    local_root = cache_dir / scheme / _safe_rel(root)
    try:
        fs.invalidate_cache()  # a long-lived process must see the bucket as it is now
        if fs.isfile(root):
            _download(fs, root, fs.info(root), local_root)
            return local_root
        found = fs.find(root, detail=True)
        prefix = root.rstrip("/") + "/"
        wanted = set()
        for path, info in sorted(found.items()):
            if info.get("type") != "directory" and path.startswith(prefix):
                target = local_root / _safe_rel(path[len(prefix) :])
                _download(fs, path, info, target)
                wanted.add(target)
    except Exception as exc:  # the backends' errors (credentials, network, access) in one line
        raise StorageError(f"{url}: cannot read: {type(exc).__name__}: {exc}") from None
    _prune(local_root, wanted)
    return local_root


def _prune(local_root: Path, wanted: set[Path]) -> None:
    """Delete copies of objects that are gone from the bucket: the input is what is there now."""
    if not local_root.is_dir():
        return
    for path in sorted(local_root.rglob("*"), reverse=True):
        if path.is_file() and not path.name.startswith(".") and path not in wanted:
            path.unlink()
            path.with_name(f".{path.name}.remote").unlink(missing_ok=True)


def remote_url(path: str | Path, cache_dir: Path) -> str | None:
    """The URL a staged local copy was fetched from (None for a file outside the cache)."""
    try:
        rel = Path(path).resolve().relative_to(Path(cache_dir).resolve())
    except ValueError:
        return None
    scheme, *rest = rel.parts
    return f"{scheme}://{'/'.join(rest)}" if rest else None


def _safe_rel(path: str) -> str:
    """A remote key as a relative local path (no absolute parts, no `..`)."""
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "_"


def _version_tag(info: dict) -> str:
    """What changes when the object changes: S3 ETag, GCS md5/crc, the Hub's blob id, else a time."""
    for key in (
        "ETag",
        "etag",
        "md5Hash",
        "crc32c",
        "blob_id",
        "LastModified",
        "mtime",
        "last_modified",
        "updated",
    ):
        if info.get(key) is not None:
            return f"{key}={info[key]}"
    return ""


def _download(fs, path: str, info: dict, target: Path) -> None:
    version = _version_tag(info)
    tag = f"{info.get('size')} {version}"
    marker = target.with_name(f".{target.name}.remote")
    if version and target.is_file() and marker.is_file() and marker.read_text(encoding="utf-8") == tag:
        return  # the same version as the copy (without a version tag: always fetched)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part-{os.getpid()}")
    try:
        fs.get_file(path, str(tmp))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    marker.write_text(tag, encoding="utf-8")
