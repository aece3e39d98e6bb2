"""Following logs as `tail -F` does: the new lines of files, globs and standard input, batch by batch.

A file is followed by name. When the name comes to point at another file (rotation by rename and
re-create), the old file is read to its end first and the new one from its start; when a file shrinks
(`copytruncate`), it is read again from its start; when it disappears, its open file is read out and the
name is watched until it comes back. A glob picks up files created later, read from their start. A last
line without its newline is held until the newline comes. Work is per read (up to `MAX_READ` bytes),
never per line: the lines of a read become one Block.
"""

from __future__ import annotations

import glob
import os
import queue
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ..errors import InputError
from ..sources import GZIP_MAGIC, STDIN, Block, lines_block

MAX_READ = 16 << 20  # bytes read from one file per poll: a replay catches up in steps of this


@dataclass
class Followed:
    """One followed name: the file open under it now, where reading got to, and the cut last line."""

    name: str
    handle: BinaryIO | None = None
    identity: tuple[int, int] | None = None  # (device, inode) of the open file
    offset: int = 0
    partial: bytes = b""
    next_line: int = 1  # lines are numbered on across rotations: (source, line) stays in arrival order

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
        self.handle, self.identity = None, None


@dataclass
class Follower:
    """The new lines of `specs` (paths, globs, `-` for standard input), as Blocks per source name."""

    specs: Sequence[str]
    from_start: bool = False
    followed: dict[str, Followed] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # rotations, truncations, files gone: for the operator
    _stdin: queue.Queue[bytes | None] | None = None
    _started: bool = False

    def names(self) -> list[str]:
        """The sources in the order the operator named them (globs expanded in name order)."""
        out: list[str] = []
        for spec in self.specs:
            if spec == STDIN:
                out.append(STDIN)
            elif glob.has_magic(spec):
                out.extend(sorted(glob.glob(spec)))
            else:
                out.append(spec)
        return list(dict.fromkeys([*self.followed, *out]))

    def start(self) -> None:
        """Check the inputs and open them: at their end, or their start with `from_start`."""
        for spec in self.specs:
            if spec == STDIN or glob.has_magic(spec):
                continue
            if Path(spec).is_dir():
                raise InputError(f"{spec}: is a directory, not a log file")
            if Path(spec).exists() and not os.access(spec, os.R_OK):
                raise InputError(f"{spec}: cannot open (permission denied)")
            if not Path(spec).exists():
                self.notes.append(f"{spec}: not there yet; following it by name")
        if STDIN in self.specs:
            self._stdin = queue.Queue(maxsize=64)
            threading.Thread(target=self._read_stdin, name="logscope-stdin", daemon=True).start()
        for name in self.names():
            if name != STDIN:
                self._open(self.followed.setdefault(name, Followed(name)), at_end=not self.from_start)
        self._started = True

    def reopen(self) -> None:
        """Close and open every file again by its name (SIGHUP), keeping where reading got to."""
        for f in self.followed.values():
            if f.handle is not None:
                f.close()
                self._open(f, at_end=False, keep_offset=True)

    def close(self) -> None:
        for f in self.followed.values():
            f.close()

    def poll(self) -> list[tuple[str, Block]]:
        """Whatever whole lines arrived since the last poll, one Block per source that has some."""
        if not self._started:
            self.start()
        out = []
        for name in self.names():
            f = self.followed.setdefault(name, Followed(name))
            block = self._lines(f, self._drain_stdin() if name == STDIN else self._read_file(f))
            if block is not None:
                out.append((name, block))
        return out

    def finish(self) -> list[tuple[str, Block]]:
        """The held last lines without their newline, at the end of input (standard input closed, or stop)."""
        out = []
        for name, f in self.followed.items():
            if f.partial:
                data, f.partial = f.partial + b"\n", b""
                out.append((name, self._block(f, data)))
        return out

    @property
    def stdin_closed(self) -> bool:
        return STDIN in self.specs and self._stdin is None

    # -- files ---------------------------------------------------------------------------------------------

    def _open(self, f: Followed, *, at_end: bool, keep_offset: bool = False) -> None:
        try:
            handle = open(f.name, "rb")  # noqa: SIM115 - kept open while followed, closed by close()
        except FileNotFoundError:
            return  # not there (yet): watched by name
        except OSError as exc:
            self.notes.append(f"{f.name}: cannot open ({exc.strerror or exc})")
            return
        st = os.fstat(handle.fileno())
        if handle.peek(2)[:2] == GZIP_MAGIC:
            handle.close()
            self.notes.append(f"{f.name}: compressed; a followed log is read as it is written (analyze reads .gz files)")
            return
        f.handle, f.identity = handle, (st.st_dev, st.st_ino)
        if not keep_offset:
            f.offset = st.st_size if at_end else 0
        f.offset = min(f.offset, st.st_size)
        handle.seek(f.offset)

    def _read_file(self, f: Followed) -> bytes:
        try:
            st = os.stat(f.name)
        except FileNotFoundError:
            st = None
        data = b""
        if f.handle is not None:
            now = os.fstat(f.handle.fileno())
            if now.st_size < f.offset:  # copytruncate: the same file, shorter than where reading got to
                self.notes.append(f"{f.name}: truncated; reading it again from its start")
                f.handle.seek(0)
                f.offset, f.partial = 0, b""
            data = self._read(f)
            replaced = st is None or (st.st_dev, st.st_ino) != f.identity
            if replaced and len(data) < MAX_READ:  # rotated or gone, and read to its end: let it go
                self.notes.append(
                    f"{f.name}: {'rotated' if st is not None else 'gone'}; " + ("following the new file" if st else "waiting for it")
                )
                f.close()
        if f.handle is None and st is not None:
            self._open(f, at_end=False)  # a new file under the name: from its start
            data += self._read(f)
        return data

    def _read(self, f: Followed) -> bytes:
        assert f.handle is not None
        chunk = f.handle.read(MAX_READ)
        f.offset += len(chunk)
        return chunk

    # -- standard input ------------------------------------------------------------------------------------

    def _read_stdin(self) -> None:
        stream = sys.stdin.buffer
        assert self._stdin is not None
        while True:
            chunk = stream.read1(1 << 20) if hasattr(stream, "read1") else stream.read(1 << 16)
            self._stdin.put(chunk if chunk else None)
            if not chunk:
                return

    def _drain_stdin(self) -> bytes:
        if self._stdin is None:
            return b""
        parts = []
        while True:
            try:
                chunk = self._stdin.get_nowait()
            except queue.Empty:
                break
            if chunk is None:
                self._stdin = None
                break
            parts.append(chunk)
        return b"".join(parts)

    # -- lines ---------------------------------------------------------------------------------------------

    def _lines(self, f: Followed, data: bytes) -> Block | None:
        if not data:
            return None
        data = f.partial + data
        cut = data.rfind(b"\n") + 1
        f.partial = data[cut:]
        return self._block(f, data[:cut]) if cut else None

    def _block(self, f: Followed, data: bytes) -> Block:
        block = lines_block(data, f.next_line)
        f.next_line += block.frame.height
        return block
