"""Reading XML from outside without trusting it.

Every failure is an InputError naming the file (and line/column where known), never a traceback:
- the path must be a regular file, not a folder, a symlink, a device or a FIFO (checked on the
  opened descriptor, with O_NOFOLLOW, so a swap after the check does not help an attacker);
- size is capped before anything is parsed (MAX_XML_BYTES);
- the encoding is the one the XML declaration names (none → UTF-8, the XML default). Only
  Windows-1251 (the FFOMS encoding) and UTF-8 are accepted. What is detectable:
  * bytes that do not decode in the declared encoding (UTF-8 declared, cp1251 bytes; the byte
    0x98, undefined in cp1251) → error with line/column of the first bad byte;
  * UTF-8 bytes labelled windows-1251: they would decode (cp1251 maps almost every byte) into
    mojibake, so a cp1251-declared file whose non-ASCII bytes form valid UTF-8 is rejected.
    Genuine cp1251 Cyrillic is practically never valid UTF-8 (letters are 0xC0-0xFF, which
    UTF-8 only allows as lead bytes followed by 0x80-0xBF);
  * a UTF-8 BOM contradicting a windows-1251 declaration, UTF-16/32 (BOM) → rejected;
  Not detectable: cp1251 text labelled as another single-byte encoding (we refuse all others)
  or mojibake that was already in the text when the file was written.
- parsing goes through defusedxml with DTDs forbidden: no DOCTYPE at all, hence no external
  entity (XXE) is ever resolved and no entity expansion (billion laughs) can start. The
  official classifiers carry no DTD.
- records are streamed (iterparse) and cleared once read, so memory stays bounded by the cap.
"""
from __future__ import annotations

import codecs
import errno
import hashlib
import io
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

from flows.errors import InputError

#: Largest reference XML accepted (bytes). F002 is ~650 KB; a national F003 a few MB.
MAX_XML_BYTES = 200 * 1024 * 1024

#: Accepted encodings: codec name → name recorded in the run ledger.
_ENCODINGS = {"cp1251": "windows-1251", "utf-8": "utf-8"}
_BOM_UTF8 = b"\xef\xbb\xbf"
_DECL = re.compile(
    rb"<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*([\"'])[^\"']*\1"
    rb"(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*([\"'])([^\"']*)\2)?")
#: XML white space (S production); NBSP and other Unicode spaces are data.
XML_SPACE = " \t\r\n"


@dataclass(frozen=True)
class XmlText:
    """A reference file read and decoded, with what the run ledger records about it."""

    path: Path
    text: str
    encoding: str  # windows-1251 | utf-8
    size_bytes: int
    sha256: str


def _where(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in bytes) of a byte offset."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - line_start + 1


def read_bytes(path: Path, max_bytes: int = MAX_XML_BYTES) -> bytes:
    """The bytes of a regular, non-empty file of at most max_bytes; InputError otherwise."""
    name = str(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise InputError("file is missing", file=name) from None
    except OSError as exc:
        raise InputError(f"cannot be read: {exc.strerror}", file=name) from None
    if stat.S_ISLNK(st.st_mode):
        raise InputError("is a symbolic link, not a regular file", file=name)
    if stat.S_ISDIR(st.st_mode):
        raise InputError("is a folder, not a file", file=name)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) \
        | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError("is a symbolic link, not a regular file", file=name) from None
        raise InputError(f"cannot be read: {exc.strerror}", file=name) from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if stat.S_ISDIR(st.st_mode):
            raise InputError("is a folder, not a file", file=name)
        if not stat.S_ISREG(st.st_mode):
            raise InputError("is not a regular file", file=name)
        if st.st_size > max_bytes:
            raise InputError(f"is {st.st_size} bytes, over the {max_bytes}-byte limit "
                             "for a reference file", file=name)
        data = fh.read(max_bytes + 1)  # bounded even if the file grows meanwhile
    if len(data) > max_bytes:
        raise InputError(f"is over the {max_bytes}-byte limit for a reference file", file=name)
    if not data.strip(XML_SPACE.encode()):
        raise InputError("is empty", file=name)
    return data


def decode(path: Path, data: bytes) -> tuple[str, str]:
    """Decode in the declared encoding; return (text, ledger encoding name)."""
    name = str(path)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError("is UTF-16/32 (byte order mark); expected windows-1251", file=name)
    bom = data.startswith(_BOM_UTF8)
    body = data[len(_BOM_UTF8):] if bom else data
    decl = _DECL.match(body)
    label = decl.group(3).decode("ascii", "replace") if decl and decl.group(3) else None
    if label is None:
        codec = "utf-8"  # the XML default
    else:
        try:
            codec = codecs.lookup(label).name
        except LookupError:
            codec = None
        if codec not in _ENCODINGS:
            raise InputError(f"declares unsupported encoding {label!r}; expected windows-1251",
                             file=name, line=1)
    if bom and codec != "utf-8":
        raise InputError(f"starts with a UTF-8 byte order mark but declares {label!r}",
                         file=name, line=1, column=1)
    if codec == "cp1251" and not body.isascii() and _is_utf8(body):
        # checked first: UTF-8 Cyrillic often holds 0x98 (И, ш), undefined in cp1251, and
        # "byte 0x98 is not valid windows-1251" would hide what is really wrong
        first = next(i for i, b in enumerate(body) if b > 0x7F)
        line, col = _where(data, first)  # no BOM here: refused above with windows-1251
        raise InputError("declares windows-1251 but its bytes are UTF-8 (text would be "
                         "garbled); re-encode it or fix the declaration",
                         file=name, line=line, column=col)
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as exc:
        line, col = _where(data, exc.start + (len(_BOM_UTF8) if bom else 0))
        raise InputError(f"byte 0x{body[exc.start]:02x} is not valid {_ENCODINGS[codec]} "
                         f"(the encoding its XML declaration names)",
                         file=name, line=line, column=col) from None
    return text, _ENCODINGS[codec]


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def read_xml(path: Path, max_bytes: int = MAX_XML_BYTES) -> XmlText:
    """Read, bound, hash and decode one XML file."""
    path = Path(path)
    data = read_bytes(path, max_bytes)
    text, encoding = decode(path, data)
    return XmlText(path, text, encoding, len(data), hashlib.sha256(data).hexdigest())


def _line_of(text: str, needle: str) -> int | None:
    pos = text.find(needle)
    return None if pos < 0 else text.count("\n", 0, pos) + 1


def iter_records(xml: XmlText, root_tag: str, record_tag: str) -> Iterator[Element]:
    """Yield each <record_tag> child of the root, complete, then free it.

    The root must be <root_tag>. Other children of the root (headers) are skipped.
    """
    name = str(xml.path)
    depth = 0
    root: Element | None = None
    try:
        events = DET.iterparse(io.StringIO(xml.text), events=("start", "end"),
                               forbid_dtd=True, forbid_entities=True, forbid_external=True)
        for event, elem in events:
            if event == "start":
                if depth == 0:
                    root = elem
                    if elem.tag != root_tag:
                        raise InputError(f"root element is <{elem.tag}>, expected <{root_tag}>",
                                         file=name)
                depth += 1
                continue
            depth -= 1
            if depth == 1:
                if elem.tag == record_tag:
                    yield elem
                root.clear()  # drop finished children: memory stays bounded
    except ParseError as exc:
        line, col = exc.position
        msg = str(exc).split(":")[0]
        raise InputError(f"malformed XML: {msg}", file=name, line=line, column=col + 1) from None
    except DefusedXmlException as exc:
        raise InputError(f"forbidden XML construct ({type(exc).__name__}): a DOCTYPE/entity "
                         "declaration is not allowed in a reference file (entities are never "
                         "resolved or expanded)",
                         file=name, line=_line_of(xml.text, "<!DOCTYPE")) from None
