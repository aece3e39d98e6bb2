"""Following logs as `tail -F` does: the new lines of files, globs and standard input, batch by batch.

A file is followed by name. When the name comes to point at another file (rotation by rename and
re-create), the new one is read from its start, and the old one goes on being read for `ROTATE_WAIT`
seconds after it last grew: a writer (nginx until its USR1, a process until its SIGHUP) keeps writing the
file it has open. When a file shrinks (`copytruncate`), it is read again from its start; when it
disappears, its open file is read out the same way and the name is watched until it comes back. SIGHUP
(`reopen`) looks at every name again at once. A glob picks up files created later, read from their start.
A last line without its newline is held until the newline comes (each file its own). Work is per read (up
to `MAX_READ` bytes), never per line: the lines of a read become one Block.
"""

from __future__ import annotations

import errno
import glob
import os
import queue
import stat
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ..errors import InputError
from ..runners.sources import COMPRESSIONS, STDIN, Block, compression_of, lines_block

MAX_READ = 16 << 20  # bytes read from one file per poll: a replay catches up in steps of this
#: Seconds a rotated file goes on being read after it last grew (fluent-bit's `rotate_wait` is 5 s too).
ROTATE_WAIT = 5.0


def _not_followable(name: str) -> str | None:
    """Why a name cannot be followed as a file (None when it can, or is not there yet): a directory, a FIFO or a
    device (opening one blocks, or it never ends), a symbolic link that leads round in a loop, no permission."""
    try:
        st = os.stat(name)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link that leads round in a loop"
        return f"cannot open ({exc.strerror or exc})"
    if stat.S_ISDIR(st.st_mode):
        return "is a directory, not a log file"
    if stat.S_ISFIFO(st.st_mode):
        return f"a FIFO (named pipe), not a file to follow: logscope watch - < {name}"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (a device or a socket)"
    if not os.access(name, os.R_OK):
        return "cannot open (permission denied)"
    return None


@dataclass
class Retired:
    """A file rotated away from its name, still read while its writer may be writing to it."""

    handle: BinaryIO
    partial: bytes  # its own cut last line
    grew: float  # when it last grew (time.monotonic())


@dataclass
class Followed:
    """One followed name: the file open under it now, where reading got to, and the cut last line; and the
    files rotated away from it that are still read."""

    name: str
    handle: BinaryIO | None = None
    identity: tuple[int, int] | None = None  # (device, inode) of the open file
    offset: int = 0
    partial: bytes = b""
    next_line: int = 1  # lines are numbered on across rotations: (source, line) stays in arrival order
    retired: list[Retired] = field(default_factory=list)
    compressed: bool = False  # a compressed file under the name: read whole once (from the start), never followed

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
        self.handle, self.identity = None, None

    def retire(self) -> None:
        """The open file no longer has the name: keep reading it a while, from where reading got to."""
        if self.handle is not None:
            self.retired.append(Retired(self.handle, self.partial, time.monotonic()))
        self.handle, self.identity, self.partial, self.offset = None, None, b"", 0

    def close_all(self) -> None:
        self.close()
        for r in self.retired:
            r.handle.close()
        self.retired = []


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
            problem = _not_followable(spec)
            if problem:
                raise InputError(f"{spec}: {problem}")
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
        """Look at every name again at once (SIGHUP, logrotate's postrotate): a name that now points to another
        file is followed from the new file's start, and the old file goes on being read to its end and for
        ROTATE_WAIT after, as after any rotation; a name that still points to its file keeps its place."""
        for f in self.followed.values():
            if f.handle is not None and self._identity(f.name) != f.identity:
                self.notes.append(f"{f.name}: reopened (SIGHUP); the rotated file is read to its end")
                f.retire()
                self._open(f, at_end=False)

    def close(self) -> None:
        for f in self.followed.values():
            f.close_all()

    @staticmethod
    def _identity(name: str) -> tuple[int, int] | None:
        try:
            st = os.stat(name)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def poll(self) -> list[tuple[str, Block]]:
        """Whatever whole lines arrived since the last poll, one Block per source that has some."""
        if not self._started:
            self.start()
        out = []
        for name in self.names():
            f = self.followed.setdefault(name, Followed(name))
            if name == STDIN:
                block = self._lines(f, self._drain_stdin())
            else:
                whole = self._read_file(f)
                block = self._block(f, whole) if whole else None
            if block is not None:
                out.append((name, block))
        return out

    def finish(self) -> list[tuple[str, Block]]:
        """The held last lines without their newline, and what rotated files still had, at the end of input
        (standard input closed, or stop)."""
        out = []
        for name, f in self.followed.items():
            data = b"".join(self._drain_retired(f, final=True))
            if f.partial:
                data, f.partial = data + f.partial + b"\n", b""
            if data:
                out.append((name, self._block(f, data)))
        return out

    @property
    def stdin_closed(self) -> bool:
        return STDIN in self.specs and self._stdin is None

    # -- files ---------------------------------------------------------------------------------------------

    def _open(self, f: Followed, *, at_end: bool) -> None:
        if f.compressed or _not_followable(f.name):  # a FIFO matched by a glob would block the open
            return
        try:
            handle = open(f.name, "rb")  # noqa: SIM115 - kept open while followed, closed by close()
        except FileNotFoundError:
            return  # not there (yet): watched by name
        except OSError as exc:
            self.notes.append(f"{f.name}: cannot open ({exc.strerror or exc})")
            return
        st = os.fstat(handle.fileno())
        kind = compression_of(handle.peek(6)[:6])
        if kind is not None:
            # A compressed file (a rotation's `access.log.2.gz`) is never written to again: from the start, it is
            # read whole once, as analyze reads it; from the end, there is nothing of it to follow.
            f.compressed = True
            reader = next(r for name, r in COMPRESSIONS.values() if name == kind)
            if at_end or reader is None:
                handle.close()
                self.notes.append(f"{f.name}: compressed ({kind}); " + ("not followed (no new lines come to it)" if at_end else "not read"))
                return
            self.notes.append(f"{f.name}: compressed ({kind}); read whole once")
            f.handle = reader(handle)
            return
        f.handle, f.identity = handle, (st.st_dev, st.st_ino)
        f.offset = st.st_size if at_end else 0
        handle.seek(f.offset)

    def _read_file(self, f: Followed) -> bytes:
        """The whole lines that arrived in the file under the name and in those rotated away from it."""
        out = self._drain_retired(f)
        if f.compressed:
            if f.handle is not None:
                out.append(self._whole(f, self._read_compressed(f)))
            return b"".join(out)
        identity = self._identity(f.name)
        if f.handle is not None:
            now = os.fstat(f.handle.fileno())
            if now.st_size < f.offset:  # copytruncate: the same file, shorter than where reading got to
                self.notes.append(f"{f.name}: truncated; reading it again from its start")
                f.handle.seek(0)
                f.offset, f.partial = 0, b""
            out.append(self._whole(f, self._read(f)))
            if identity != f.identity:  # rotated or gone: its writer may still be writing it
                self.notes.append(
                    f"{f.name}: {'rotated' if identity else 'gone'}; "
                    + ("following the new file" if identity else "waiting for it")
                    + f", the old one read on for {ROTATE_WAIT:g} s after it last grows"
                )
                f.retire()
        if f.handle is None and identity is not None:
            self._open(f, at_end=False)  # a new file under the name: from its start
            if f.handle is not None and not f.compressed:
                out.append(self._whole(f, self._read(f)))
        return b"".join(out)

    def _drain_retired(self, f: Followed, final: bool = False) -> list[bytes]:
        """What the files rotated away from the name got since the last read; a file quiet for ROTATE_WAIT (or
        every one, at the end) is let go, its cut last line taken as a line."""
        out = []
        now = time.monotonic()
        kept = []
        for r in f.retired:
            chunk = r.handle.read(MAX_READ)
            if chunk:
                r.grew = now
                data = r.partial + chunk
                cut = data.rfind(b"\n") + 1
                r.partial = data[cut:]
                out.append(data[:cut])
            if final or (not chunk and now - r.grew >= ROTATE_WAIT):
                if r.partial:
                    out.append(r.partial + b"\n")
                r.handle.close()
            else:
                kept.append(r)
        f.retired = kept
        return out

    def _whole(self, f: Followed, chunk: bytes) -> bytes:
        """The whole lines of what was read from the file open under the name; its cut last line is kept."""
        if not chunk:
            return b""
        data = f.partial + chunk
        cut = data.rfind(b"\n") + 1
        f.partial = data[cut:]
        return data[:cut]

    def _read(self, f: Followed) -> bytes:
        if f.handle is None:
            return b""
        chunk = f.handle.read(MAX_READ)
        f.offset += len(chunk)
        return chunk

    def _read_compressed(self, f: Followed) -> bytes:
        """The next part of a compressed file read whole once; the file is closed at its end."""
        try:
            chunk = self._read(f)
        except (EOFError, OSError) as exc:
            self.notes.append(f"{f.name}: compressed data ends early or is corrupt ({exc}); read up to there")
            chunk = b""
        if not chunk:
            f.close()
        return chunk

    # -- standard input ------------------------------------------------------------------------------------

    def _read_stdin(self) -> None:
        # The descriptor, not sys.stdin's buffered reader: a thread blocked in the buffered reader holds its lock,
        # and the interpreter's exit then aborts ("Fatal Python error: _enter_buffered_busy") when stopped by a
        # signal while a pipe (`tail -F file | logscope watch -`) has nothing to give.
        assert self._stdin is not None
        fd = sys.stdin.fileno()
        while True:
            try:
                chunk = os.read(fd, 1 << 20)
            except OSError:
                chunk = b""
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
