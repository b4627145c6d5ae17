"""Hostile reference XML: every case is one clear InputError naming the file, nothing resolved."""
from __future__ import annotations

import builtins
import io
import os
import urllib.request

import pytest

from flows.errors import InputError
from flows.reference import load_classifier, load_reference
from nsi_helpers import DECL, f003_text, f008_zap, medcompany, zap_text

GOOD_F008 = zap_text(f008_zap("1") + f008_zap("2"))


def _fails(path, key="f008", **kw) -> str:
    with pytest.raises(InputError) as err:
        load_classifier(path, key, **kw)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    assert err.value.exit_code == 2
    return message


# --- passing twins: the same files, well formed, load ---------------------------------------

@pytest.mark.parametrize(("content", "encoding"), [
    (GOOD_F008, "cp1251"),
    (GOOD_F008.replace("windows-1251", "UTF-8"), "utf-8"),
    (GOOD_F008.replace("windows-1251", "utf-8"), "utf-8-sig"),  # BOM + matching declaration
    (GOOD_F008.replace(DECL, ""), "utf-8"),                        # no declaration: UTF-8
])
def test_well_formed_encodings_load(write, content, encoding):
    df, meta = load_classifier(write("F008.xml", content, encoding), "f008")
    assert df["iddoc"].to_list() == ["1", "2"] and df["name"].to_list() == ["Полис", "Полис"]
    assert meta.encoding == ("windows-1251" if encoding == "cp1251" else "utf-8")


# --- malformed, empty, encodings -----------------------------------------------------------

def test_malformed_xml_gives_line_and_column(write):
    path = write("F008.xml", DECL + "<packet>\n<zap><IDDOC>1</IDDOC></zapp>\n</packet>\n")
    assert _fails(path) == f"{path}, line 3, column 24: malformed XML: mismatched tag"


def test_truncated_xml(write):
    path = write("F008.xml", GOOD_F008[: len(GOOD_F008) // 2])
    assert "malformed XML" in _fails(path)


@pytest.mark.parametrize("content", [b"", b"  \r\n\t\n"])
def test_empty_file(write, content):
    path = write("F008.xml", content)
    assert _fails(path) == f"{path}: is empty"


def test_utf8_bytes_labelled_windows_1251(write):
    path = write("F008.xml", GOOD_F008, "utf-8")
    message = _fails(path)
    assert "declares windows-1251 but its bytes are UTF-8" in message
    assert ", line 3, column " in message  # first non-ASCII byte: the first DOCNAME


@pytest.mark.parametrize("content", [
    GOOD_F008.replace("windows-1251", "utf-8").encode("cp1251"),  # cp1251 labelled UTF-8
    GOOD_F008.replace(DECL, "").encode("cp1251"),                  # cp1251, no declaration
])
def test_cp1251_bytes_not_utf8(write, content):
    path = write("F008.xml", content)
    assert "is not valid utf-8 (the encoding its XML declaration names)" in _fails(path)


def test_byte_undefined_in_windows_1251(write):
    path = write("F008.xml", GOOD_F008.encode("cp1251").replace(b"\xcf", b"\x98", 1))
    message = _fails(path)
    assert "line 3" in message and "byte 0x98 is not valid windows-1251" in message


@pytest.mark.parametrize(("content", "expected"), [
    (GOOD_F008.replace("windows-1251", "koi8-r").encode("koi8-r"),
     "declares unsupported encoding 'koi8-r'"),
    (b"\xef\xbb\xbf" + GOOD_F008.encode("cp1251"), "starts with a UTF-8 byte order mark"),
    (GOOD_F008.replace("windows-1251", "utf-16").encode("utf-16"), "is UTF-16/32"),
])
def test_unsupported_or_contradictory_encoding(write, content, expected):
    assert expected in _fails(write("F008.xml", content))


@pytest.mark.parametrize("junk", [b"\x00", b"\x01\x02\x03", b"\xff\xfe\x00garbage"])
def test_control_and_binary_bytes(write, junk):
    content = GOOD_F008.encode("cp1251").replace(b"<DOCNAME>", b"<DOCNAME>" + junk, 1)
    message = _fails(write("F008.xml", content))
    assert "malformed XML" in message and "line 3" in message


# --- entities: XXE and expansion bombs ------------------------------------------------------

@pytest.fixture
def opened(monkeypatch):
    """Every path opened (builtins/io/os) or URL fetched while the test runs."""
    seen: list[str] = []
    real_open, real_os_open, real_urlopen = builtins.open, os.open, urllib.request.urlopen

    def spy_open(file, *a, **k):
        seen.append(str(file))
        return real_open(file, *a, **k)

    def spy_os_open(path, *a, **k):
        seen.append(str(path))
        return real_os_open(path, *a, **k)

    def spy_urlopen(url, *a, **k):
        seen.append(str(getattr(url, "full_url", url)))
        return real_urlopen(url, *a, **k)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(io, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    monkeypatch.setattr(urllib.request, "urlopen", spy_urlopen)
    return seen


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE packet [<!ENTITY xxe SYSTEM "file://{secret}">]>',
    '<!DOCTYPE packet [<!ENTITY % p SYSTEM "file://{secret}"> %p;]>',
    '<!DOCTYPE packet SYSTEM "file://{secret}">',
])
def test_external_entity_is_never_read(write, tmp_path, opened, doctype):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-42")
    body = zap_text(f008_zap("&xxe;" if "xxe" in doctype else "1")).replace(DECL, "")
    path = write("F008.xml", DECL + doctype.format(secret=secret) + "\n" + body)
    opened.clear()  # record only what the loader opens
    message = _fails(path)
    assert "forbidden XML construct" in message and "line 2" in message
    assert "TOP-SECRET-42" not in message
    assert str(path) in opened  # the spy works ...
    assert not any("secret" in p for p in opened)  # ... and the secret was never opened


def test_billion_laughs_is_rejected(write):
    lol = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)]
    text = (DECL + "<!DOCTYPE packet [\n" + "\n".join(lol) + "\n]>\n"
            + zap_text(f008_zap("&lol9;")).replace(DECL, ""))
    message = _fails(write("F008.xml", text))
    assert "forbidden XML construct (DTDForbidden)" in message and "line 2" in message


def test_quadratic_blowup_is_rejected(write):
    text = (DECL + f'<!DOCTYPE packet [<!ENTITY a "{"x" * 100_000}">]>\n'
            + zap_text(f008_zap("&a;" * 10_000)).replace(DECL, ""))
    assert "forbidden XML construct" in _fails(write("F008.xml", text))


# --- the file itself ------------------------------------------------------------------------

def test_missing_file(tmp_path):
    path = tmp_path / "F008.xml"
    assert _fails(path) == f"{path}: file is missing"


def test_folder_instead_of_file(tmp_path):
    path = tmp_path / "F008.xml"
    path.mkdir()
    assert _fails(path) == f"{path}: is a folder, not a file"


def test_symlink_instead_of_file(write, tmp_path):
    target = write("real.xml", GOOD_F008)
    assert load_classifier(target, "f008")[0].height == 2  # the target itself is fine
    link = tmp_path / "F008.xml"
    link.symlink_to(target)
    assert _fails(link) == f"{link}: is a symbolic link, not a regular file"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_named_pipe_does_not_block(tmp_path):
    path = tmp_path / "F008.xml"
    os.mkfifo(path)
    assert _fails(path) == f"{path}: is not a regular file"


def test_size_cap(write):
    path = write("F008.xml", GOOD_F008)
    size = path.stat().st_size
    assert load_classifier(path, "f008", max_bytes=size)[0].height == 2
    assert "over the" in _fails(path, max_bytes=size - 1)


# --- the folder -----------------------------------------------------------------------------

def test_reference_folder_missing_or_not_a_folder(tmp_path):
    with pytest.raises(InputError, match="reference folder is missing"):
        load_reference(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="reference folder is not a folder"):
        load_reference(tmp_path / "file")


def test_reference_folder_missing_one_file(tmp_path):
    files = {
        "F002.xml": DECL + "<packet><insCompany><tf_okato>46000</tf_okato><smocod>50001</smocod>"
                           "<nam_smok>СМО</nam_smok><insInclude><d_begin>01.01.2011</d_begin>"
                           "<d_end/></insInclude></insCompany></packet>",
        "F003.xml": f003_text(medcompany("500001", [("01.01.2015", None)])),
        "F008.xml": GOOD_F008,
        "F010.xml": zap_text("<zap><KOD_TF>50</KOD_TF><KOD_OKATO>46000</KOD_OKATO>"
                             "<SUBNAME>Московская область</SUBNAME><DATEBEG>01.01.2011</DATEBEG>"
                             "<DATEEND/></zap>"),
        "V021.xml": zap_text("<zap><IDSPEC>76</IDSPEC><SPECNAME>Терапия</SPECNAME>"
                             "<DATEBEG>01.01.2011</DATEBEG><DATEEND/></zap>"),
    }
    for name, text in files.items():
        (tmp_path / name).write_bytes(text.encode("cp1251"))
    ref = load_reference(tmp_path)
    assert [f.rows for f in ref.files] == [1, 1, 2, 1, 1]
    assert ref.f010.row(0)[:3] == ("50", "46000", "Московская область")
    (tmp_path / "F003.xml").unlink()
    with pytest.raises(InputError) as err:
        load_reference(tmp_path)
    assert str(err.value) == f"{tmp_path / 'F003.xml'}: file is missing"
