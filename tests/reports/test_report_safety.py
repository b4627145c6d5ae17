"""File names from data, formula neutralisation and URL defanging, unit by unit."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from reports.clinic import clinic_stems
from reports.safe import defang_urls, inside, neutralise_frame, neutralise_text, safe_stem

PLAIN = ["500101", "MO-7", "a_b", "PAT.SNILS.MISSING", "x" * 64]
HOSTILE = ["../../evil", "..", ".", "a/b", "a\\b", "/etc/passwd", "CON", "con", "Nul", "COM1",
           "lpt9", "CON.txt", "aux.x.y", "", None, "x" * 65, "x" * 5000, ".hidden", "trail.",
           "мо-01", "a b", "a\x00b", "unassigned", "UNASSIGNED", "-rf"]


@pytest.mark.parametrize("code", PLAIN)
def test_plain_codes_keep_their_name(code):
    assert safe_stem(code) == code


@pytest.mark.parametrize("code", HOSTILE)
def test_hostile_codes_get_a_safe_distinct_name(code, tmp_path):
    stem = safe_stem(code, reserved=("unassigned",))
    assert stem != code
    assert 0 < len(stem) <= 64
    assert all(ch.isascii() and (ch.isalnum() or ch in "._-") for ch in stem)
    assert not stem.startswith((".", "-"))
    assert stem.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL", "COM1", "LPT9"}
    assert stem.lower() != "unassigned"
    path = inside(tmp_path, f"{stem}.xlsx")
    assert path.parent == tmp_path.resolve()


def test_different_codes_never_share_a_name():
    codes = ["a/b", "a_b", "a\\b", "a b", "a:b", "CON", "con", "", "..", "../..", "x" * 65,
             "x" * 66]
    stems = [safe_stem(c) for c in codes]
    assert len(set(stems)) == len(codes)
    assert clinic_stems(codes)[None] == "unassigned"


def test_inside_refuses_escaping_names(tmp_path):
    for name in ("../x", "a/../../x", "/tmp/x", "sub/x"):
        with pytest.raises(ValueError):
            inside(tmp_path, name)
    assert inside(tmp_path, "ok.csv") == tmp_path.resolve() / "ok.csv"


def test_neutralise_every_formula_lead_and_nothing_else():
    values = ["=1+2", "+7", "-1", "@SUM(A1)", "\tx", "\rx", "a=b", "1-2", "", None, "'=x", " =x"]
    frame = pl.DataFrame({"v": values, "n": list(range(len(values)))})
    out = neutralise_frame(frame)
    assert out["v"].to_list() == ["'=1+2", "'+7", "'-1", "'@SUM(A1)", "'\tx", "'\rx", "a=b",
                                  "1-2", "", None, "'=x", " =x"]
    assert out["n"].to_list() == frame["n"].to_list()  # non-text columns untouched
    assert neutralise_text("=HYPERLINK()") == "'=HYPERLINK()" and neutralise_text("ok") == "ok"


def test_defang_urls():
    assert defang_urls('a http://x.y/z b HTTPS://q') == "a http:&#47;&#47;x.y/z b HTTPS:&#47;&#47;q"
    assert defang_urls("http-equiv ftp://x file:///x") == "http-equiv ftp://x file:///x"


def test_static_assets_have_no_url_or_closing_tag():
    static = Path(__file__).resolve().parents[2] / "reports" / "static"
    for path in static.iterdir():
        text = path.read_text(encoding="utf-8").lower()
        assert "http://" not in text and "https://" not in text and "</script" not in text
