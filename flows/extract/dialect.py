"""How an extract CSV is written: encoding, line ends, delimiter and quoting.

Everything here is set-based. Bytes are cut into physical lines with numpy, decoded with
CPython's C codecs over whole blocks, and fields are split with polars string kernels (Rust
regex, leftmost-first semantics). Python only loops over blocks of many megabytes.

Line ends are ``\\r\\n``, ``\\n`` and a lone ``\\r``; a terminator at the end of the file does not
start another line. One physical line is one record: quotes never span lines.
"""
from __future__ import annotations

import codecs
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
import polars as pl
import pyarrow as pa

from flows.errors import InputError

BOM = b"\xef\xbb\xbf"
UTF8, UTF8_SIG, CP1251 = "utf-8", "utf-8-sig", "cp1251"

#: Longest line read as a record; longer lines are quarantined (a 10 MB field, a million columns).
MAX_LINE_CHARS = 1_048_576
#: A line with more bytes than this has more than MAX_LINE_CHARS characters in any encoding
#: (at most 4 bytes per character), so it is skipped without being decoded or held in memory.
MAX_LINE_BYTES = 4 * MAX_LINE_CHARS
#: Bytes read and parsed at a time: bounds memory whatever the file size. 8 MB, not more: a
#: block's polars columns then stay below jemalloc's 8 MB "oversize" threshold and come from
#: its ordinary arenas, which keep freed pages for the next block; 32 MB blocks made them
#: oversize allocations, whose pages jemalloc returns at once and the next block faults in
#: again (at 1M patients 1.78M page faults, 6-7 kernel CPU s of a 16-17.6 s prepare; 8 MB:
#: 0.65-0.69M faults, 3.0 s kernel, 13.8-14.4 s in all; 4 MB: more Python and polars calls
#: per byte outweigh the fewer faults).
BLOCK_BYTES = 8 * 1024 * 1024
#: Characters of a quarantined line kept in the quarantine table.
RAW_LINE_CAP = 4096
_HEAD_BYTES = 4 * RAW_LINE_CAP

#: U+FFFD as the three bytes a real replacement character has in UTF-8, read as Latin-1.
_FFFD_AS_LATIN1 = "\ufffd".encode("utf-8").decode("latin-1")
#: Characters that make a line unreadable: C0 controls except TAB, and a byte order mark.
BAD_CHARS = r"[\x00-\x08\x0B-\x1F\x{FEFF}]"


def open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading without following a symlink or blocking on a FIFO."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InputError("file not found", file=str(path)) from None
    except OSError as exc:  # ELOOP: a symlink; EACCES; ...
        kind = "is a symbolic link, not a regular file" if os.path.islink(path) else exc.strerror
        raise InputError(kind, file=str(path)) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise InputError(f"is {describe_mode(mode)}, not a regular file", file=str(path))
    return os.fdopen(fd, "rb", buffering=0)


def describe_mode(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symbolic link"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "a special file"


# --------------------------------------------------------------------------- blocks of lines

@dataclass
class Block:
    """Consecutive physical lines of a file.

    Either ``data``: whole lines, each with its terminator except perhaps the file's last one,
    starting at byte ``start`` of the file; or a single overlong line that was skipped:
    ``head`` (its first bytes) and ``n_bytes``. ``offsets``: line_offsets(data), set by
    DecodedFile when it decodes the block (computed once, for decoding and for finding a line's
    bytes again).
    """

    data: bytes | None = None
    head: bytes | None = None
    n_bytes: int = 0
    start: int = 0
    offsets: np.ndarray | None = None


def _last_cut(buf: bytes) -> int:
    """Index just after the last terminator whose extent is known (0: none).

    A ``\\r`` in the last byte is not a safe cut: the next read may start with its ``\\n``.
    """
    return max(buf.rfind(b"\n"), buf.rfind(b"\r", 0, len(buf) - 1)) + 1


def iter_blocks(fh: BinaryIO, *, strip_bom: bool, hasher=None, block_bytes: int | None = None,
                max_line_bytes: int | None = None) -> Iterator[Block]:
    """Cut a file into blocks of whole lines; lines longer than ``max_line_bytes`` are streamed
    over (only their head is kept) so memory stays bounded whatever the file holds."""
    block_bytes = block_bytes or BLOCK_BYTES
    max_line_bytes = max_line_bytes or MAX_LINE_BYTES
    pending, first = b"", True
    read = 0  # bytes read from the file so far: the current buffer ends there
    skip: list | None = None  # [head, n_bytes] while inside an overlong line
    skip_cr = False  # that line ended with '\r' at the end of the last read ('\n' may follow)
    buffer: bytearray | None = None  # see _read_usual
    while True:
        if pending and not first and skip is None:
            # the usual case: the block is the pending start of a line and the next read up
            # to its last terminator (read into one buffer, reused for every block)
            if buffer is None:
                buffer = bytearray(block_bytes)
            n, cut = _read_usual(fh, buffer)
            if cut:
                read += n
                view = memoryview(buffer)
                if hasher is not None:
                    hasher.update(view[:n])
                yield Block(data=b"".join((pending, view[:cut])), start=read - n - len(pending))
                pending = bytes(view[cut:n])
                del view
                if len(pending) > max_line_bytes:
                    pending, skip, skip_cr = _overlong_start(pending, max_line_bytes)
                continue
            chunk = bytes(memoryview(buffer)[:n])
        else:
            chunk = fh.read(block_bytes)
        if first:  # the BOM check needs three bytes whatever the block size
            while len(chunk) < len(BOM) and (more := fh.read(block_bytes)):
                chunk += more
        read += len(chunk)
        eof = not chunk
        if hasher is not None and chunk:
            hasher.update(chunk)
        if first:
            first = False
            if strip_bom and chunk.startswith(BOM):
                chunk = chunk[len(BOM):]
        if skip is not None:
            if not eof:
                if skip_cr:
                    if chunk.startswith(b"\n"):
                        chunk = chunk[1:]
                else:
                    ends = [i for i in (chunk.find(b"\n"), chunk.find(b"\r")) if i >= 0]
                    if not ends:
                        skip[1] += len(chunk)
                        continue
                    i = min(ends)
                    skip[1] += i
                    if chunk[i:i + 1] == b"\r" and i + 1 == len(chunk):
                        skip_cr = True
                        continue
                    chunk = chunk[i + (2 if chunk[i:i + 2] == b"\r\n" else 1):]
            yield Block(head=skip[0], n_bytes=skip[1])
            skip, skip_cr = None, False
            if eof:
                return
        if pending and not eof and (cut := _last_cut(chunk)):
            # the usual case: the block is the pending start of a line and the chunk up to its
            # last terminator, copied once (the chunk's cut is the buffer's: it ends the buffer)
            yield Block(data=b"".join((pending, memoryview(chunk)[:cut])),
                        start=read - len(chunk) - len(pending))
            pending = chunk[cut:]
        else:
            buf = pending + chunk if pending else chunk
            if eof:
                if buf:
                    yield Block(data=buf, start=read - len(buf))
                return
            cut = _last_cut(buf)
            if cut:
                yield Block(data=buf[:cut], start=read - len(buf))
                pending = buf[cut:]
            else:
                pending = buf
        if len(pending) > max_line_bytes:
            pending, skip, skip_cr = _overlong_start(pending, max_line_bytes)


def _read_usual(fh: BinaryIO, buffer: bytearray) -> tuple[int, int]:
    """(bytes read into `buffer`, _last_cut of them). One buffer for every read instead of a
    new 8 MB bytes object per block, whose fresh pages each cost a page fault."""
    n = fh.readinto(buffer) or 0
    if not n:
        return 0, 0
    return n, max(buffer.rfind(b"\n", 0, n), buffer.rfind(b"\r", 0, n - 1)) + 1


def _overlong_start(pending: bytes, max_line_bytes: int) -> tuple[bytes, list | None, bool]:
    """(pending, skip, skip_cr) once `pending`, the start of one line, is longer than
    `max_line_bytes`: skipped (only its head kept) when its body is, else kept as it is."""
    # pending is the start of one line; a trailing '\r' would be its terminator
    ends_cr = pending.endswith(b"\r")
    body = pending[:-1] if ends_cr else pending
    if len(body) > max_line_bytes:
        return b"", [body[:_HEAD_BYTES], len(body)], ends_cr
    return pending, None, False


# --------------------------------------------------------------------------- lines of a block

def _line_offsets(a: np.ndarray, data: bytes) -> np.ndarray:
    """Start offsets of each line plus the end (n_lines + 1 values); lines keep their
    terminator (``\\n``, ``\\r\\n`` or a lone ``\\r``)."""
    ends = np.flatnonzero(a == 10)
    if data.find(b"\r") >= 0:
        cr = np.flatnonzero(a == 13)
        follower = a[np.minimum(cr + 1, a.size - 1)]
        lone = cr[(cr + 1 >= a.size) | (follower != 10)]
        if lone.size:
            ends = np.union1d(ends, lone)
    trailing = ends.size == 0 or int(ends[-1]) != a.size - 1
    offsets = np.empty(ends.size + 1 + int(trailing), dtype=np.int64)
    offsets[0] = 0
    offsets[1:ends.size + 1] = ends + 1
    if trailing:
        offsets[-1] = a.size
    return offsets


_CONTROL_BYTES = bytes(sorted(set(range(0x20)) - {0x09, 0x0A, 0x0D}))
#: Every byte but those and 0xEF (the first of a byte order mark): bytes.translate deletes them.
_NOT_SUSPECT = bytes(sorted(set(range(0x100)) - set(_CONTROL_BYTES) - {0xEF}))


def free_of_bad_chars(data: bytes, encoding: str) -> bool:
    """Whether no line of `data` can hold a BAD_CHARS character once decoded in `encoding`:
    none of its bytes is a C0 control other than TAB and the terminators, and (but in
    Windows-1251, which has no byte order mark) it has no UTF-8 byte order mark. Decoding
    keeps control bytes as they are, and undecodable bytes become U+FFFD or Windows-1251
    text, neither of them a BAD_CHARS character. False says nothing: the lines are tested.
    One pass (bytes.translate) leaves the few bytes that matter."""
    rest = data.translate(None, _NOT_SUSPECT)
    if rest.count(0xEF) < len(rest):
        return False
    return encoding == CP1251 or not rest or data.find(BOM) < 0


def line_offsets(data: bytes) -> np.ndarray:
    """Start offsets of the physical lines of `data`, plus its end."""
    if not data:
        return np.zeros(1, dtype=np.int64)
    return _line_offsets(np.frombuffer(data, dtype=np.uint8), data)


def split_lines(data: bytes, offsets: np.ndarray | None = None) -> pl.Series:
    """Physical lines of valid UTF-8 ``data`` without their terminators (numpy + Arrow, no copy
    per line); ``offsets``: line_offsets(data) when already known."""
    if not data:
        return pl.Series("line", [], dtype=pl.String)
    if offsets is None:
        offsets = _line_offsets(np.frombuffer(data, dtype=np.uint8), data)
    arr = pa.LargeStringArray.from_buffers(offsets.size - 1, pa.py_buffer(offsets),
                                           pa.py_buffer(data))
    return pl.Series("line", pl.from_arrow(arr)).str.strip_chars_end("\r\n")


_utf8_errors = threading.local()


class _TooManyErrors(Exception):
    """Raised by the error handler once more errors than _utf8_errors.limit were recorded."""


def _record_utf8_error(exc: UnicodeDecodeError) -> tuple[str, int]:
    starts = _utf8_errors.starts
    starts.append(exc.start)
    if len(starts) > _utf8_errors.limit:
        raise _TooManyErrors
    return "", exc.end


codecs.register_error("talon.record-utf8-errors", _record_utf8_error)


def _error_starts(data: bytes, limit: float = float("inf")) -> np.ndarray | None:
    """Where each invalid sequence of `data` starts, as CPython's strict decoder sees it;
    None when there are more than `limit` of them (the decoding stops there)."""
    _utf8_errors.starts, _utf8_errors.limit = [], limit
    try:
        data.decode("utf-8", "talon.record-utf8-errors")
        return np.array(_utf8_errors.starts, dtype=np.int64)
    except _TooManyErrors:
        return None
    finally:
        _utf8_errors.starts = []


def _invalid_lines(data: bytes, offsets: np.ndarray, limit: int) -> np.ndarray | None:
    """Which lines of `data` (line_offsets) are not valid UTF-8, found by halving: a run of
    lines that Arrow's validator passes holds no such line, one it fails is split in two until
    single lines remain. None once more than `limit` lines failed (the caller then decodes).

    A run of lines is valid iff each of its lines is: every line but the block's last ends
    with its terminator, an ASCII byte, which is a whole character that no sequence can
    continue across. A few bad lines in 32 MB cost a few dozen validations of shrinking runs
    instead of decoding the whole block in Python (0.08 CPU s)."""
    view = memoryview(data)
    found: list[int] = []
    runs = [(0, offsets.size - 1)]
    while runs:
        lo, hi = runs.pop()
        if _utf8_valid(view[int(offsets[lo]):int(offsets[hi])]):
            continue
        if hi - lo == 1:
            found.append(lo)
            if len(found) > limit:
                return None
            continue
        mid = (lo + hi) // 2
        runs += [(mid, hi), (lo, mid)]
    return np.array(found, dtype=np.int64)


#: utf8_line_stats(expect_utf8=True) finds up to this many invalid lines of a block by halving
#: (_invalid_lines); past it, it decodes the block.
FEW_HALVED_LINES = 64
#: _utf8_mixed replaces undecodable lines one by one in the block's bytes up to this many.
FEW_BAD_LINES = 1_000
#: utf8_line_stats(expect_utf8=True) decodes the whole block while it has at most this many
#: invalid sequences (a few bad lines in a UTF-8 file); past it, the per-line prefilter.
FEW_UTF8_ERRORS = 10_000


def utf8_line_stats(data: bytes, offsets: np.ndarray | None = None,
                    expect_utf8: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per physical line: (has a non-ASCII byte, is not valid UTF-8).

    Invalid sequences are found by CPython's own strict UTF-8 decoder, an error handler
    recording where each starts (Python runs per error, not per line). Terminators are ASCII
    and stay with their line, so a sequence cut by a line end is an error of its own line, as
    when the line is decoded alone; decoding many lines together therefore gives each line's
    own errors. With ``expect_utf8`` (a block of a file read as UTF-8: few invalid lines) the
    whole block is decoded so, unless it has more than FEW_UTF8_ERRORS errors. Otherwise (and
    then) a cheap vectorised test first settles most Windows-1251 lines (a lead byte not
    followed by a continuation byte, or a byte never valid) and only the lines it leaves open
    are decoded. ``offsets``: line_offsets(data) when already known. Before all that, with
    ``expect_utf8``, up to FEW_HALVED_LINES invalid lines are found by halving (_invalid_lines).
    """
    a = np.frombuffer(data, dtype=np.uint8)
    if not a.size:
        return np.zeros(0, bool), np.zeros(0, bool)
    if offsets is None:
        offsets = _line_offsets(a, data)
    starts = offsets[:-1]
    non_ascii = np.maximum.reduceat(a, starts) >= 0x80
    if expect_utf8:
        found = _invalid_lines(data, offsets, FEW_HALVED_LINES)
        if found is not None:
            bad = np.zeros(starts.size, dtype=bool)
            bad[found] = True
            return non_ascii, bad
        errors = _error_starts(data, FEW_UTF8_ERRORS)
        if errors is not None:
            bad = np.zeros(starts.size, dtype=bool)
            if errors.size:
                bad[np.searchsorted(offsets, errors, side="right") - 1] = True
            return non_ascii, bad
    # a lead byte (>= C0) not followed by a continuation byte (80-BF: x ^ 80 < 40); the last
    # byte is followed by nothing
    quick = a >= 0xC0
    np.logical_and(quick[:-1], (a[1:] ^ 0x80) >= 0x40, out=quick[:-1])
    quick |= a >= 0xF5
    bad = np.logical_or.reduceat(quick, starts)
    open_ = non_ascii & ~bad
    if open_.any():
        lengths = np.diff(offsets)
        errors = _error_starts(a[np.repeat(open_, lengths)].tobytes())
        if errors.size:
            sub_offsets = np.concatenate([[0], np.cumsum(lengths[open_])])
            lines = np.flatnonzero(open_)[np.searchsorted(sub_offsets, errors, side="right") - 1]
            bad[lines] = True
    return non_ascii, bad


def _utf8_valid(data: bytes) -> bool:
    arr = pa.LargeStringArray.from_buffers(
        1, pa.py_buffer(np.array([0, len(data)], dtype=np.int64)), pa.py_buffer(data))
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _utf8_mixed(data: bytes, stats: tuple[np.ndarray, np.ndarray] | None = None,
                offsets: np.ndarray | None = None) -> tuple[pl.Series, pl.Series]:
    """Lines of bytes that are not all valid UTF-8: (text, undecodable).

    A line is undecodable when decoding with replacement adds U+FFFD characters that its bytes
    do not spell out (a real U+FFFD in the file is EF BF BD). Undecodable lines are shown as
    Windows-1251, which is what such a line in a UTF-8 extract almost always is. ``stats``:
    utf8_line_stats(data) when already known; ``offsets``: line_offsets(data) when known.
    """
    a = np.frombuffer(data, dtype=np.uint8)
    if offsets is None:
        offsets = _line_offsets(a, data)
    _, undecodable = (stats if stats is not None
                      else utf8_line_stats(data, offsets, expect_utf8=True))
    lengths = np.diff(offsets)
    if undecodable.size == lengths.size and undecodable.size:
        bad_lines = np.flatnonzero(undecodable)
        if bad_lines.size <= FEW_BAD_LINES:
            # A few undecodable lines (a UTF-8 file with some Windows-1251 lines): the block's
            # bytes copied once, each such line (with its terminator, ASCII in both encodings)
            # replaced by its Windows-1251 text in UTF-8; the lines stay the same lines, whose
            # new ends are known. Python runs per undecodable line only.
            parts, new_lengths, at = [], lengths.copy(), 0
            for i in bad_lines.tolist():
                lo, hi = int(offsets[i]), int(offsets[i + 1])
                shown = data[lo:hi].decode(CP1251, "replace").encode("utf-8")
                parts += [data[at:lo], shown]
                new_lengths[i] = len(shown)
                at = hi
            parts.append(data[at:])
            new_offsets = np.zeros(lengths.size + 1, dtype=np.int64)
            np.cumsum(new_lengths, out=new_offsets[1:])
            return (split_lines(b"".join(parts), new_offsets),
                    pl.Series("undecodable", undecodable))
        # Set-based: the valid lines' bytes as they are, the others decoded as Windows-1251,
        # each group split on its own and scattered back into place. Trusted only when both
        # groups split into the expected number of lines (a lone CR before a removed line
        # could join two lines of a group); otherwise the line-exact path below.
        in_bad = np.repeat(undecodable, lengths)
        good = split_lines(a[~in_bad].tobytes())
        shown = split_lines(a[in_bad].tobytes().decode(CP1251, "replace").encode("utf-8"))
        n_bad = int(undecodable.sum())
        if good.len() == undecodable.size - n_bad and shown.len() == n_bad:
            bad = pl.Series("undecodable", undecodable)
            text = pl.repeat("", undecodable.size, dtype=pl.String, eager=True).alias("line")
            text = text.scatter(np.flatnonzero(~undecodable), good)
            text = text.scatter(np.flatnonzero(undecodable), shown)
            return text, bad
    replaced = split_lines(data.decode("utf-8", "replace").encode("utf-8"))
    latin = split_lines(data.decode("latin-1").encode("utf-8"))
    bad = (replaced.str.count_matches("\ufffd", literal=True)
           > latin.str.count_matches(_FFFD_AS_LATIN1, literal=True))
    text = replaced
    if bad.any():
        shown = latin.filter(bad).str.join("\n").item()
        shown = split_lines(shown.encode("latin-1").decode(CP1251, "replace").encode("utf-8"))
        text = replaced.scatter(bad.arg_true(), shown)
    return text.alias("line"), bad.alias("undecodable")


#: cp1251_to_utf8 decodes this many bytes at a time.
CP1251_PIECE_BYTES = 1024 * 1024


def cp1251_to_utf8(data: bytes) -> bytes:
    """``data.decode(CP1251, "replace").encode("utf-8")``, a piece of CP1251_PIECE_BYTES at a
    time (a single-byte encoding: any cut gives the same text). Decoding a whole 8 MB block of
    Cyrillic text built a 16 MB UCS-2 string, and its encoding a 12 MB copy, in fresh pages
    each block; pieces of 1 MB reuse the same memory, and only the joined result is new (1M
    registry, decode_lines of its 15 blocks: 0.37-0.48 CPU s and 37-58k page faults before,
    0.28-0.37 s and 0-7k faults after)."""
    if len(data) <= CP1251_PIECE_BYTES:
        return data.decode(CP1251, "replace").encode("utf-8")
    view = memoryview(data)
    return b"".join([str(view[i:i + CP1251_PIECE_BYTES], CP1251, "replace").encode("utf-8")
                     for i in range(0, len(data), CP1251_PIECE_BYTES)])


def decode_lines(data: bytes, encoding: str, offsets: np.ndarray | None = None) -> pl.DataFrame:
    """Decode one block into ``line`` (String) and ``undecodable`` (Boolean) per physical line;
    ``offsets``: line_offsets(data) when already known."""
    if encoding == CP1251:
        # Every byte but 0x98 is defined in Windows-1251: U+FFFD can only come from it.
        lines = split_lines(cp1251_to_utf8(data))
        if data.find(b"\x98") < 0:
            return _valid_utf8_frame(lines)
        return pl.DataFrame({"line": lines,
                             "undecodable": lines.str.contains("\ufffd", literal=True)})
    if _utf8_valid(data):
        return _valid_utf8_frame(split_lines(data, offsets))
    text, bad = _utf8_mixed(data, offsets=offsets)
    return pl.DataFrame({"line": text, "undecodable": bad})


def _valid_utf8_frame(lines: pl.Series) -> pl.DataFrame:
    return pl.DataFrame({"line": lines, "undecodable": pl.repeat(False, lines.len(), eager=True)})


def decode_head(head: bytes, encoding: str) -> str:
    """The start of a skipped overlong line, for the quarantine."""
    return head.decode(CP1251 if encoding == CP1251 else "utf-8", "replace")


# --------------------------------------------------------------------------- encoding

@dataclass(frozen=True)
class EncodingDecision:
    encoding: str  # utf-8-sig | utf-8 | cp1251
    #: among lines with non-ASCII bytes: how many decode as UTF-8 and how many do not
    #: (counted only when the file as a whole is not valid UTF-8)
    utf8_lines: int = 0
    other_lines: int = 0

    @property
    def note(self) -> str | None:
        """Said only when the file mixes UTF-8 and non-UTF-8 lines."""
        if not (self.other_lines and self.utf8_lines):
            return None
        if self.encoding == CP1251:
            return (f"read as Windows-1251: {self.other_lines} line(s) with non-ASCII bytes are "
                    f"not UTF-8, {self.utf8_lines} are")
        return (f"read as UTF-8: {self.other_lines} line(s) with non-ASCII bytes are not UTF-8 "
                f"and are quarantined, {self.utf8_lines} are UTF-8")


def detect_encoding(path: Path) -> EncodingDecision:
    """A BOM means UTF-8; else UTF-8 when the whole file decodes; else UTF-8 when most lines
    with non-ASCII bytes decode as UTF-8 (the others are quarantined); else Windows-1251.

    A tie goes to Windows-1251. Lines longer than the limit take no part (they are quarantined
    whatever the encoding).
    """
    with open_regular(path) as fh:
        start = fh.read(64)
        if start.startswith(BOM):
            return EncodingDecision(UTF8_SIG)
        if start[:2] in (b"\xff\xfe", b"\xfe\xff") and b"\x00" in start:
            raise InputError("UTF-16 text is not supported: save the file as UTF-8 or "
                             "Windows-1251", file=Path(path).name)
        fh.seek(0)
        if all(b.data is None or _utf8_valid(b.data) for b in iter_blocks(fh, strip_bom=False)):
            return EncodingDecision(UTF8)
        fh.seek(0)
        ok = bad = 0
        for block in iter_blocks(fh, strip_bom=False):
            if block.data is None:
                continue
            non_ascii, undecodable = utf8_line_stats(block.data)
            bad += int(undecodable.sum())
            ok += int((non_ascii & ~undecodable).sum())
    return EncodingDecision(UTF8 if ok > bad else CP1251, ok, bad)


class EncodingChanged(Exception):
    """The whole file overturned the encoding that DecodedFile read from its start: the lines
    it gave are void, and the file is to be read again with ``known=decision``."""

    def __init__(self, decision: EncodingDecision):
        super().__init__(f"the file reads as {decision.encoding}, not as its start said")
        self.decision = decision


#: DecodedFile reads at least this much of a file (or all of it) before choosing its encoding.
GUESS_BYTES = 8 * 1024 * 1024


class DecodedFile:
    """The blocks of a CSV file decoded in the encoding detect_encoding decides, reading the
    file once: the decision is made from the file's start and checked on the rest as it is
    decoded.

    ``encoding`` is known on opening: from a BOM; otherwise detect_encoding's rules applied to
    the first GUESS_BYTES (at least one block; the whole file when it is smaller), which
    already is the decision for such a file. Every later block is validated and counted as it
    is decoded, so ``decision`` (and its ``note``) is detect_encoding's once iteration has
    ended. When the whole file says otherwise than its start (say its Windows-1251 lines all
    come after the first block), iteration ends by raising EncodingChanged: the caller throws
    away what it read and reads the file again with ``known=`` that decision, which is then
    used as it is.

    Iterating yields ``(block, lines)``: ``lines`` is decode_lines(block.data) (``line``,
    ``undecodable``), or None for a skipped overlong line (``block.data`` is None).
    """

    def __init__(self, path: Path, hasher=None, known: EncodingDecision | None = None):
        self._fh = open_regular(path)
        try:
            if known is None:
                start = self._fh.read(64)
                if start[:2] in (b"\xff\xfe", b"\xfe\xff") and b"\x00" in start:
                    raise InputError("UTF-16 text is not supported: save the file as UTF-8 or "
                                     "Windows-1251", file=Path(path).name)
                if start.startswith(BOM):
                    known = EncodingDecision(UTF8_SIG)
                self._fh.seek(0)
            self._blocks = iter_blocks(self._fh, strip_bom=known is not None
                                       and known.encoding == UTF8_SIG, hasher=hasher)
            self._ahead: list[tuple[Block, bool | None, tuple | None]] = []
            self._speculative = known is None
            self._valid, self._ok, self._bad = True, 0, 0
            if known is None:
                known = self._guess()
        except BaseException:
            self._fh.close()
            raise
        self.decision = known
        self.encoding = known.encoding

    def _guess(self) -> EncodingDecision:
        """detect_encoding's decision on the first GUESS_BYTES, which are kept in _ahead as
        (block, valid UTF-8, utf8_line_stats) so that nothing is computed twice."""
        ahead, size = [], 0
        for block in self._blocks:
            if block.data is None:
                ahead.append((block, None, None))
                continue
            ahead.append((block, _utf8_valid(block.data), None))
            size += len(block.data)
            if size >= GUESS_BYTES:
                break
        self._ahead = ahead
        if all(valid is not False for _, valid, _ in ahead):
            return EncodingDecision(UTF8)
        ok = bad = 0
        for i, (block, valid, _) in enumerate(ahead):
            if block.data is not None:
                non_ascii, undecodable = stats = utf8_line_stats(block.data)
                bad += int(undecodable.sum())
                ok += int((non_ascii & ~undecodable).sum())
                ahead[i] = (block, valid, stats)
        return EncodingDecision(UTF8 if ok > bad else CP1251, ok, bad)

    def __iter__(self) -> Iterator[tuple[Block, pl.DataFrame | None]]:
        try:
            ahead, self._ahead = self._ahead, []
            for block, valid, stats in ahead:
                yield block, (None if block.data is None
                              else self._decode(block, valid, stats))
            del ahead
            for block in self._blocks:
                yield block, (None if block.data is None
                              else self._decode(block, None, None))
            if self._speculative:
                self._speculative = False
                final = (EncodingDecision(UTF8) if self._valid else
                         EncodingDecision(UTF8 if self._ok > self._bad else CP1251,
                                          self._ok, self._bad))
                self.decision = final
                if final.encoding != self.encoding:
                    raise EncodingChanged(final)
        finally:
            self._fh.close()

    def _decode(self, block: Block, valid: bool | None, stats) -> pl.DataFrame:
        """decode_lines(block.data, encoding), counting the block's lines for the decision;
        sets block.offsets."""
        data = block.data
        block.offsets = offsets = line_offsets(data)
        if not self._speculative:
            return decode_lines(data, self.encoding, offsets)
        if self.encoding == UTF8:
            if valid is None:
                valid = _utf8_valid(data)
            if valid:
                lines = split_lines(data, offsets)
                # valid UTF-8: a line has a non-ASCII byte iff it has fewer characters than bytes
                self._ok += int((lines.str.len_bytes() != lines.str.len_chars()).sum())
                return _valid_utf8_frame(lines)
        self._valid = False  # cp1251 was guessed only because the start is not valid UTF-8
        non_ascii, undecodable = (stats if stats is not None else utf8_line_stats(
            data, offsets, expect_utf8=self.encoding == UTF8))
        self._bad += int(undecodable.sum())
        self._ok += int((non_ascii & ~undecodable).sum())
        if self.encoding == CP1251:
            return decode_lines(data, CP1251)
        text, bad = _utf8_mixed(data, (non_ascii, undecodable), offsets)
        return pl.DataFrame({"line": text, "undecodable": bad})

    @property
    def note(self) -> str | None:
        return self.decision.note


# --------------------------------------------------------------------------- delimiter, names

def detect_delimiter(header: str) -> str:
    """Whichever of ';' and ',' occurs more often in the header line; a tie (also when
    neither occurs) gives ','."""
    return ";" if header.count(";") > header.count(",") else ","


def normalize_name(name: str) -> str:
    """Column names are matched after stripping surrounding whitespace and lowercasing."""
    return name.strip().lower()


# --------------------------------------------------------------------------- quoting grammar

@dataclass(frozen=True)
class Grammar:
    """The line grammar for one delimiter, as Rust regexes over ``delimiter + line``.

    Prefixing the delimiter makes every field a non-empty match ``D(quoted|unquoted)``, so
    ``extract_all`` returns exactly one match per field, empty fields included.
    """

    delimiter: str

    @property
    def _quoted(self) -> str:
        return r'"(?:[^"]|"")*"'

    @property
    def _unquoted(self) -> str:
        return rf'[^"{self._d}]*'

    @property
    def _d(self) -> str:
        return "\\" + self.delimiter if self.delimiter in r"\^$.|?*+()[]{}-" else self.delimiter

    @property
    def field(self) -> str:
        return rf"{self._d}(?:{self._quoted}|{self._unquoted})"

    @property
    def line(self) -> str:
        return rf"^(?:{self.field})+$"

    @property
    def unclosed(self) -> str:
        return rf'^(?:{self.field})*{self._d}"(?:[^"]|"")*$'

    @property
    def text_after_quote(self) -> str:
        return rf"^(?:{self.field})*{self._d}{self._quoted}[^{self._d}]"

    def matches(self, prefixed: pl.Expr) -> pl.Expr:
        """One ``D(field)`` match per field of a line (prefixed with the delimiter) that
        matches ``line``."""
        return prefixed.str.extract_all(self.field)

    def values(self, matches: pl.Series) -> pl.Series:
        """Field values from a flat Series of matches: drop the delimiter, the enclosing quotes,
        and undo doubled quotes. An unquoted field holds no quote, so only quoted ones change."""
        values = matches.str.slice(1)
        quoted = matches.str.starts_with(self.delimiter + '"')
        if quoted.any():
            idx = quoted.arg_true()
            inner = (values.gather(idx).str.strip_prefix('"').str.strip_suffix('"')
                     .str.replace_all('""', '"', literal=True))
            values = values.scatter(idx, inner)
        return values

    def fully_quoted(self, n_fields: int) -> str:
        """A line (not prefixed) of exactly ``n_fields`` quoted fields none of which holds a
        quote: ``"a";"";"b;c"``. Such a line matches ``line`` and splits on ``"D"`` into its
        values, exactly where a field ends (the fast path of fully quoted files)."""
        return rf'^"[^"]*"(?:{self._d}"[^"]*"){{{n_fields - 1}}}$'

    def fully_quoted_values(self, lines: pl.Series, n_fields: int) -> pl.DataFrame:
        """The values ``f0``... of lines that match fully_quoted(n_fields)."""
        inner = lines.str.strip_prefix('"').str.strip_suffix('"')
        return (inner.str.split_exact(f'"{self.delimiter}"', n_fields - 1).struct.unnest()
                .rename(lambda name: "f" + name.removeprefix("field_")))

    def quoting_problem(self, prefixed: pl.Expr) -> pl.Expr:
        """Why a line (prefixed with the delimiter) that does not match ``line`` is broken."""
        return (pl.when(prefixed.str.contains(self.unclosed)).then(pl.lit("unclosed quote"))
                .when(prefixed.str.contains(self.text_after_quote))
                .then(pl.lit("text after closing quote"))
                .otherwise(pl.lit("quote inside an unquoted field")))
