"""Where log lines come from: files, globs, gzip, stdin, read in large blocks.

Work here is per block (tens of MiB), never per line: a block is cut at a newline and handed to Polars
whole. Problems with an input become one-line `InputError`s naming the input.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import lzma
import math
import os
import re
import stat
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import BinaryIO

import polars as pl

from ..errors import InputError
from ..schema import RAW

#: Bytes per block. Large enough that Polars' per-call overhead vanishes, small enough to bound memory.
BLOCK_BYTES = 32 << 20
GZIP_MAGIC = b"\x1f\x8b"
STDIN = "-"
#: What a compressed input starts with, its name, and the reader for it (None: one logscope does not read).
COMPRESSIONS: dict[bytes, tuple[str, Callable[[BinaryIO], BinaryIO] | None]] = {
    GZIP_MAGIC: ("gzip", lambda raw: gzip.GzipFile(fileobj=raw, mode="rb")),  # type: ignore[dict-item]
    b"BZh": ("bzip2", lambda raw: bz2.BZ2File(raw, mode="rb")),  # type: ignore[dict-item]
    b"\xfd7zXZ\x00": ("xz", lambda raw: lzma.LZMAFile(raw, mode="rb")),  # type: ignore[dict-item]  # noqa: SIM115
    b"\x28\xb5\x2f\xfd": ("zstd", None),
    b"PK\x03\x04": ("a zip archive", None),
}


#: How many times its size a compressed input is expected to read as, where nothing better is known: access
#: logs compress about this well (gzip, bzip2, xz), and a bomb is caught while it is read (ReadBudget).
COMPRESSION_RATIO = 8
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz")

#: An input named by URL (s3://, gs://, http://, ...) is read through fsspec; file:// is a local path.
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True)
class Source:
    """One input as the operator named it (after glob expansion)."""

    name: str  # shown in reports and evidence (`source` column); "-" means stdin
    path: Path | None  # None for stdin and for URLs
    url: str | None = None  # read through fsspec

    @property
    def is_stdin(self) -> bool:
        return self.path is None and self.url is None

    def size(self) -> int | None:
        """The input's size in bytes as stored (None for standard input)."""
        if self.path is not None:
            return self.path.stat().st_size
        if self.url is not None:
            fs, where = _filesystem(self.url)
            return int(fs.size(where) or 0)
        return None


def _filesystem(url: str) -> tuple[object, str]:
    try:
        import fsspec
    except ImportError:
        raise InputError(f"{url}: reading URLs needs fsspec: pip install 'logscope[cluster]'") from None
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:  # an unknown protocol, or its package missing (s3fs, gcsfs)
        raise InputError(f"{url}: cannot read this URL ({exc})") from None


def _url_sources(spec: str) -> list[Source]:
    """The inputs a URL names: itself, or what its glob matches; file:// URLs become local paths."""
    fs, where = _filesystem(spec)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]  # type: ignore[attr-defined]
    try:
        if glob.has_magic(where):
            matches = sorted(fs.glob(where), key=_natural_key)  # type: ignore[attr-defined]
            if not matches:
                raise InputError(f"{spec}: no file matches this pattern")
            names = [m for m in matches if not fs.isdir(m)]  # type: ignore[attr-defined]
        else:
            if not fs.exists(where):  # type: ignore[attr-defined]
                raise InputError(f"{spec}: no such file")
            if fs.isdir(where):  # type: ignore[attr-defined]
                raise InputError(f"{spec}: is a directory, not a log file")
            names = [where]
    except OSError as exc:
        raise InputError(f"{spec}: cannot read ({exc})") from None
    if protocol in ("file", "local"):
        return [Source(n, Path(n)) for n in names]
    urls = [spec] if names == [where] else [fs.unstrip_protocol(n) for n in names]  # type: ignore[attr-defined]
    return [Source(u, None, u) for u in urls]


@dataclass
class Block:
    """A run of whole lines from one source, numbered in the `line` column."""

    frame: pl.DataFrame  # columns: raw (String), line (UInt64)
    lossy: bool  # invalid UTF-8 was replaced with U+FFFD in this block
    data: bytes | None = None  # the block's bytes as read (None when invalid UTF-8 was replaced) ...
    tail: bytes = b""  # ... and the rest of its last line, read after it
    joined: int = 0  # lines that were pieces of a longer line, joined into it (a container's wrapper)

    @property
    def payload(self) -> bytes | None:
        """The block's lines as the bytes they were read as, when they are exactly its lines (a copy
        when the last line was completed after the block, so ask only if a decoder reads bytes)."""
        if self.data is None:
            return None
        return self.data + self.tail if self.tail else self.data


def _natural_key(path: str) -> list[object]:
    # access.log.2.gz before access.log.10.gz, as an operator would list rotations.
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


def expand_inputs(specs: Sequence[str]) -> list[Source]:
    """Turn the operator's arguments into sources: files, globs (sorted naturally) and `-` for stdin.

    A name that is neither an existing path nor a glob that matches is an error, as is a directory.
    """
    if not specs:
        raise InputError("no input given: name one or more access logs, or - for standard input")
    sources: list[Source] = []
    for spec in specs:
        if spec == STDIN:
            sources.append(Source(STDIN, None))
            continue
        if URL.match(spec):
            sources.extend(_url_sources(spec))
            continue
        if glob.has_magic(spec) and not os.path.exists(spec):
            matches = sorted(glob.glob(spec), key=_natural_key)
            if not matches:
                raise InputError(f"{spec}: no file matches this pattern")
            sources.extend(Source(m, Path(m)) for m in matches if not os.path.isdir(m))
            continue
        sources.append(Source(spec, Path(spec)))
    for src in sources:
        _check_readable(src)
    return sources


def _check_readable(src: Source) -> None:
    if src.path is None:
        return
    try:
        st = src.path.stat()
    except FileNotFoundError:
        raise InputError(f"{src.name}: no such file") from None
    except PermissionError:
        raise InputError(f"{src.name}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{src.name}: cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{src.name}: is a directory, not a log file (nor a store written by `logscope convert`)")
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        # /dev/zero would be read forever; a named pipe (FIFO) is fine, like standard input.
        raise InputError(f"{src.name}: is a device, not a log file (pipe it in with - if you mean to)")
    if not os.access(src.path, os.R_OK):
        raise InputError(f"{src.name}: permission denied")


def compression_of(head: bytes) -> str | None:
    """The compression an input's first bytes show (gzip, bzip2, xz, zstd, a zip archive), or None."""
    return next((name for magic, (name, _) in COMPRESSIONS.items() if head.startswith(magic)), None)


def _open(src: Source) -> tuple[BinaryIO, str | None, BinaryIO]:
    """Open a source for binary reading, the compression it is read through (recognised by its first bytes,
    not its name) and the stream as stored. A compression logscope does not read is one line saying how to read it."""
    raw: BinaryIO
    if src.url is not None:
        fs, where = _filesystem(src.url)
        try:
            raw = fs.open(where, "rb")  # type: ignore[attr-defined]
            head = raw.read(6)
            raw.seek(0)
        except OSError as exc:
            raise InputError(f"{src.name}: cannot open ({exc})") from None
    else:
        if src.path is None:
            raw = sys.stdin.buffer
        else:
            try:
                raw = open(src.path, "rb")  # noqa: SIM115 - closed by the caller's generator
            except OSError as exc:
                raise InputError(f"{src.name}: cannot open ({exc.strerror or exc})") from None
        head = raw.peek(6)[:6] if hasattr(raw, "peek") else b""
    for magic, (name, reader) in COMPRESSIONS.items():
        if head.startswith(magic):
            if reader is None:
                raw.close()
                tool = {"zstd": "zstdcat", "a zip archive": "unzip -p"}.get(name, "cat")
                raise InputError(f"{src.name}: compressed as {name}, which logscope does not read: {tool} {src.name} | logscope analyze -")
            return reader(raw), name, raw
    return raw, None, raw


#: First bytes that begin no compressed stream Polars recognises (gzip 1f 8b, zlib 78 .., zstd 28 b5 2f fd):
#: an address, a JSON object, a bracketed time or syslog priority, or blank space.
_PLAIN_START = frozenset(b"0123456789{[< \t\r\n")


def _read_lines(data: bytes) -> pl.DataFrame:
    """One row per line of `data`. Polars sniffs the start of a buffer for compression magic and would
    decompress it (or fail); a block that might start with such bytes is read behind a leading newline,
    dropped after the split. The usual block (an address, a JSON object) is read as it is, without a copy."""
    if data[:1] and data[0] in _PLAIN_START:
        return pl.read_lines(data, name=RAW)
    return pl.read_lines(b"\n" + data, name=RAW).slice(1)


def _lines_frame(data: bytes, tail: bytes = b"") -> tuple[pl.DataFrame, bool]:
    """Split a block into a one-column frame of lines; invalid UTF-8 is replaced, never fatal.

    `tail` is the rest of the block's last line, read after the block: that line is split on its own,
    so the block itself is never copied to append it.
    """
    try:
        if not tail:
            return _read_lines(data), False
        cut = data.rfind(b"\n") + 1
        try:
            head = _read_lines(data)  # no copy; its last row is the cut line, read again whole below
            head = head.slice(0, head.height - 1)
        except pl.exceptions.ComputeError:
            head = _read_lines(data[:cut])  # the cut fell inside a multi-byte character
        return pl.concat([head, _read_lines(data[cut:] + tail)]), False
    except pl.exceptions.ComputeError:
        fixed = (data + tail).decode("utf-8", errors="replace").encode("utf-8")
        return _read_lines(fixed), True


def lines_block(data: bytes, first_line: int, tail: bytes = b"") -> Block:
    """Whole lines as a Block, numbered from `first_line` (the rest of the last line in `tail`)."""
    frame, lossy = _lines_frame(data, tail)
    frame = frame.with_columns(pl.int_range(first_line, first_line + frame.height, dtype=pl.UInt64).alias("line"))
    return Block(frame=frame, lossy=lossy, data=None if lossy else data, tail=tail)


def line_ranges(path: Path, parts: int) -> list[tuple[int, int]]:
    """`path` cut into about `parts` byte ranges of whole lines: each starts a line and ends just after a
    newline (the last one at the file's end)."""
    size = path.stat().st_size
    cuts = [0]
    with open(path, "rb") as f:
        for k in range(1, parts):
            f.seek(max(cuts[-1], k * size // parts))
            f.readline()  # on to just after the next newline
            if f.tell() >= size:
                break
            if f.tell() > cuts[-1]:
                cuts.append(f.tell())
    return list(pairwise([*cuts, size]))


def count_lines(path: Path, start: int, end: int) -> int:
    """Lines in a byte range of `path` as `line_ranges` cuts it (a last line without a newline counts)."""
    lines, pos, last = 0, start, b""
    with open(path, "rb") as f:
        f.seek(start)
        while pos < end and (data := f.read(min(BLOCK_BYTES, end - pos))):
            lines += data.count(b"\n")
            pos += len(data)
            last = data[-1:]
    return lines + (1 if last and last != b"\n" else 0)


def iter_range(src: Source, start: int, end: int, first_line: int, block_bytes: int = BLOCK_BYTES) -> Iterator[Block]:
    """The lines of one byte range of a plain file (`line_ranges`), in blocks numbered from `first_line`:
    what a cluster's worker parses of a file too large for one task."""
    if src.path is None:
        raise InputError(f"{src.name}: only a file can be read in ranges")
    try:
        f = open(src.path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InputError(f"{src.name}: cannot open ({exc.strerror or exc})") from None
    with f:
        f.seek(start)
        pos, line = start, first_line
        while pos < end and (data := f.read(min(block_bytes, end - pos))):
            pos += len(data)
            tail = f.readline() if pos < end and not data.endswith(b"\n") else b""  # the range ends after a newline
            pos += len(tail)
            block = lines_block(data, line, tail)
            yield block
            line += block.frame.height


def _position(raw: BinaryIO) -> int:
    """How far into its stored bytes a compressed input's reader is (0 where that cannot be told)."""
    try:
        return raw.tell()
    except (OSError, ValueError, AttributeError):
        return 0


def _size(stream: BinaryIO) -> int | None:
    """The size of a regular file behind `stream` now; None for pipes and standard input."""
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


class TooLargeToReadWhole(Exception):
    """Reading whole was chosen with a compressed input's size guessed, and it is found to read as more (a
    gzip bomb, a trailer's size past 4 GiB): the caller reads in shards instead, sized from `ratio`."""

    def __init__(self, name: str, read: int, ratio: float) -> None:
        super().__init__(f"{name}: reads as more than can be read whole")
        self.read = read  # bytes read of it when that was found
        self.ratio = ratio  # bytes read per byte stored, so far


@dataclass
class ReadBudget:
    """What reading whole may take (`limit` bytes, as read) and what each input is expected to read as.

    A compressed input's size is a guess until it is read: as its bytes come out, it is estimated again
    (its stored size times the bytes read per byte stored so far), so a bomb is caught at its first block,
    not after filling memory; once the inputs are expected to read as more than the limit, reading stops."""

    limit: int
    expected: dict[str, int]  # per input name

    def spend(self, src: Source, read: int, stored_at: int, stored_size: int | None) -> None:
        """`read` bytes of `src` came out of the first `stored_at` of its `stored_size` stored bytes."""
        ratio = read / max(stored_at, 1)
        self.expected[src.name] = max(read, math.ceil(stored_size * ratio)) if stored_size else read
        if sum(self.expected.values()) > self.limit:
            raise TooLargeToReadWhole(src.name, read, ratio)


def expected_bytes(src: Source, ratio: float = COMPRESSION_RATIO) -> tuple[int, bool] | None:
    """The bytes an input will read as (decompressed), as well as can be told before reading it, and whether
    it is compressed: a plain file's size; for gzip the larger of its trailer's ISIZE (the last member's
    size, modulo 4 GiB) and `ratio` times its size; for the other compressions that. None for standard input."""
    size = src.size()
    if size is None:
        return None
    if src.path is None:  # a URL: its name says
        compressed = src.name.endswith(COMPRESSED_SUFFIXES)
        return (math.ceil(size * ratio) if compressed else size), compressed
    try:
        with open(src.path, "rb") as f:
            compression = compression_of(f.read(6))
            if compression is None:
                return size, False
            isize = 0
            if compression == "gzip" and size >= 18:  # a header and a trailer at least
                f.seek(-4, os.SEEK_END)
                isize = int.from_bytes(f.read(4), "little")
    except OSError:
        return size, False  # reading will say what is wrong, in one line
    return max(isize, math.ceil(size * ratio)), True


def iter_blocks(
    src: Source, block_bytes: int = BLOCK_BYTES, notes: list[str] | None = None, budget: ReadBudget | None = None
) -> Iterator[Block]:
    """Yield the source's lines in blocks. Line numbers are 1-based and count every line, blank or not.

    A file is read to the end it has while it is read: lines appended meanwhile are included. When it
    shrinks under the reader (truncated, or rotated with copytruncate) reading stops there, and a note
    saying so is added to `notes`. With a `budget`, each compressed block is paid for as it is read.
    """
    stream, compressed, raw = _open(src)
    size_at_open = None if compressed else _size(stream)
    stored_size = _size(raw) if compressed else None
    read_bytes = 0
    next_line = 1
    try:
        while True:
            try:
                data = stream.read(block_bytes)
                tail = stream.readline() if data and not data.endswith(b"\n") else b""
            except (EOFError, gzip.BadGzipFile, zlib.error, lzma.LZMAError, OSError, ValueError) as exc:
                raise InputError(_gzip_message(src, exc, next_line - 1, compressed)) from None
            read_bytes += len(data) + len(tail)
            if budget is not None and compressed:
                budget.spend(src, read_bytes, _position(raw), stored_size)
            if not data:
                if notes is not None and size_at_open is not None and read_bytes < size_at_open:
                    notes.append(
                        f"the file shrank while it was read (truncated, or rotated with copytruncate): "
                        f"{next_line - 1:,} lines were read before its end moved"
                    )
                return
            block = lines_block(data, next_line, tail)
            yield block
            next_line += block.frame.height
    finally:
        if not src.is_stdin:
            stream.close()


def read_ahead(blocks: Iterator[Block], depth: int = 1) -> Iterator[Block]:
    """Read the next block on a thread while the current one is parsed (both release the GIL).

    Errors raised by the reader (a truncated gzip, say) are re-raised in the caller, in order.
    """
    import queue
    import threading

    pending: queue.Queue[tuple[Block | None, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for block in blocks:
                if stop.is_set():
                    return
                pending.put((block, None))
            pending.put((None, None))
        except BaseException as exc:
            pending.put((None, exc))

    worker = threading.Thread(target=produce, name="logscope-reader", daemon=True)
    worker.start()
    try:
        while True:
            block, error = pending.get()
            if error is not None:
                raise error
            if block is None:
                return
            yield block
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                pending.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)


def _gzip_message(src: Source, exc: BaseException, lines_read: int, compressed: str | None) -> str:
    where = f"after line {lines_read}" if lines_read else "before the first line"
    kind = compressed or "gzip"
    if isinstance(exc, EOFError):
        return f"{src.name}: {kind} data is truncated {where} (file cut short or still being written)"
    if compressed or isinstance(exc, (gzip.BadGzipFile, zlib.error)):
        return f"{src.name}: corrupt {kind} data {where} ({exc})"
    return f"{src.name}: read error {where} ({exc})"
