"""The reports in a real browser: headless Chromium with networking disabled opens the auditors'
index and pages and a clinic's fix list from file://, the test asserts on the rendered DOM, saves
screenshots under tests/artifacts/, and proves from Chromium's own net log that the page asked
for nothing remote.

How "no request left the machine" is checked: every host name resolves to nothing
(--host-resolver-rules), and the net log (--log-net-log) records every URL request Chromium
starts, with its initiator. Requests the page causes carry the page's origin (`null` or
file://) as initiator or network isolation key; Chromium's own background requests (update
checks, account lookups) carry "not an origin" and are not the page's. A test page that does
reference remote URLs shows that this check sees them.
"""
from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--hide-scrollbars",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr", "--v=0"]
SIZE = (1280, 1600)
REMOTE = re.compile(r"^(?:https?|wss?|ftp)://", re.I)


@pytest.fixture(scope="module")
def chromium() -> Path:
    found = CHROMIUM if CHROMIUM.is_file() else None
    if found is None and shutil.which("chromium"):
        found = Path(shutil.which("chromium"))
    if found is None:
        pytest.skip("headless Chromium not installed (/usr/bin/chromium: apt-get install "
                    "chromium); the browser test of the reports needs it")
    return found


class Visit:
    """One headless Chromium run on a URL: the serialised DOM, console log, page requests."""

    def __init__(self, chromium: Path, url: str, work: Path, screenshot: Path | None = None,
                 size: tuple[int, int] = SIZE, pdf: Path | None = None):
        work.mkdir(parents=True, exist_ok=True)
        self.netlog = work / "netlog.json"
        args = [str(chromium), *FLAGS, f"--window-size={size[0]},{size[1]}",
                f"--user-data-dir={work / 'profile'}", f"--log-net-log={self.netlog}"]
        args.append(f"--print-to-pdf={pdf}" if pdf else "--dump-dom")
        if pdf:
            args.append("--no-pdf-header-footer")
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            args.append(f"--screenshot={screenshot}")
        done = subprocess.run([*args, url], capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-2000:]
        self.dom = done.stdout
        self.console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
        self.requests = page_requests(self.netlog)


def _load_netlog(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError:  # a log cut short at exit lacks its closing brackets
        return json.loads(text.rstrip().rstrip(",") + "]}")


def page_requests(netlog: Path) -> list[str]:
    """Remote URLs whose requests the page (not Chromium itself) started."""
    log = _load_netlog(netlog)
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event["type"] != start_job or "url" not in params:
            continue
        initiator = params.get("initiator", "")
        isolation = params.get("network_isolation_key", "")
        if initiator != "not an origin" or "file://" in isolation:
            urls.append(params["url"])
    return [u for u in urls if REMOTE.match(u)]


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def _assert_offline_and_clean(visit: Visit) -> None:
    assert visit.requests == []
    assert not [c for c in visit.console if "Content Security Policy" in c or "ERROR" in c], \
        visit.console  # nothing was blocked, nothing failed: nothing tried to load


def test_index_renders_offline(chromium, rendered, tmp_path):
    out, _, index = rendered
    shot = ARTIFACTS / "report_index.png"
    visit = Visit(chromium, index.as_uri(), tmp_path / "index", screenshot=shot)
    dom = visit.dom
    assert "Отчёт о качестве данных для онлайн-записи" in dom
    assert "Пациентов не могут записаться" in dom
    assert "ГБУЗ МО «Поликлиника №1»" in dom
    assert dom.count("<svg") >= 3  # the three charts, inline
    assert 'data-js="ready"' in dom and dom.count('class="tfilter"') >= 3  # local JS ran
    # The hostile clinic name is text: one <script> element (Talon's), the name escaped.
    assert dom.count("<script") == 1
    assert "Больница &lt;script&gt;alert(1)&lt;/script&gt;" in dom
    _assert_offline_and_clean(visit)
    width, height = _png_size(shot)
    assert (width, height) == (1280, 1600) and shot.stat().st_size > 20_000


def test_clinic_fix_list_and_auditor_clinic_page_render_offline(chromium, rendered, tmp_path):
    out, _, _ = rendered
    fix_list = out / "clinics" / "500102.html"
    shot = ARTIFACTS / "report_clinic_fixlist.png"
    visit = Visit(chromium, fix_list.as_uri(), tmp_path / "fixlist", screenshot=shot)
    assert "Список исправлений" in visit.dom and "402-102-488-0O" in visit.dom  # full value
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in visit.dom
    assert "&lt;img src=x onerror=alert(2)&gt;" in visit.dom and "<img" not in visit.dom
    assert visit.dom.count("<script") == 1
    _assert_offline_and_clean(visit)
    _png_size(shot)

    page = out / "clinic" / "500102.html"
    visit = Visit(chromium, page.as_uri(), tmp_path / "page",
                  screenshot=ARTIFACTS / "report_clinic_page.png")
    assert "Примеры (значения маскированы)" in visit.dom
    assert "*********0O" in visit.dom and "402-102-488-0O" not in visit.dom  # masked only
    assert visit.dom.count("<script") == 1
    _assert_offline_and_clean(visit)


def test_net_log_check_sees_a_page_that_loads_remote_assets(chromium, tmp_path):
    """The negative control: the same check fails on a page with remote references."""
    remote = ["http://talon-test.invalid/logo.png", "https://assets.talon-test.invalid/app.css",
              "https://assets.talon-test.invalid/app.js"]
    bad = tmp_path / "bad.html"
    bad.write_text(
        f'<!doctype html><html><head><link rel="stylesheet" href="{remote[1]}">'
        f'<script src="{remote[2]}"></script></head><body><h1>remote</h1>'
        f'<img src="{remote[0]}"></body></html>', encoding="utf-8")
    visit = Visit(chromium, bad.as_uri(), tmp_path / "bad")
    assert "<h1>remote</h1>" in visit.dom
    assert sorted(set(visit.requests)) == sorted(remote)

    good = tmp_path / "good.html"
    good.write_text("<!doctype html><html><body><h1>local</h1></body></html>", encoding="utf-8")
    visit = Visit(chromium, good.as_uri(), tmp_path / "good")
    assert "<h1>local</h1>" in visit.dom and visit.requests == []


def test_tables_sort_and_filter_offline(chromium, tmp_path):
    """Talon's table script, run by the browser: numeric sort both ways, then a filter."""
    script = (ROOT / "reports" / "static" / "talon.js").read_text(encoding="utf-8")
    harness = """
    document.addEventListener("DOMContentLoaded", function () {
      var th = document.querySelector("#t th");
      function col() {
        return Array.prototype.map.call(document.querySelectorAll("#t tbody tr"),
          function (r) { return r.hidden ? "" : r.cells[0].textContent; }).join(",");
      }
      th.click(); var up = col(); th.click(); var down = col();
      var box = document.querySelector("input.tfilter");
      box.value = "Б"; box.dispatchEvent(new Event("input"));
      document.body.setAttribute("data-result", up + "|" + down + "|" + col());
    });"""
    page = tmp_path / "tables.html"
    page.write_text(
        '<!doctype html><html><head><meta charset="utf-8"></head><body>'
        '<table class="data" id="t" data-filter-label="Фильтр"><thead><tr><th>n</th><th>s</th>'
        '</tr></thead><tbody><tr><td>10</td><td>а</td></tr><tr><td>9</td><td>Б</td></tr>'
        '<tr><td>100</td><td>в</td></tr></tbody></table>'
        f"<script>{script}</script><script>{harness}</script></body></html>", encoding="utf-8")
    visit = Visit(chromium, page.as_uri(), tmp_path / "tables")
    assert 'data-result="9,10,100|100,10,9|,,9"' in visit.dom
    assert 'placeholder="Фильтр"' in visit.dom


# --------------------------------------------------------------------------- a real run's work list

#: Reports the page's layout into the DOM once Talon's script has run (DOMContentLoaded
#: handlers run in order): the probe copy of a page carries it, the page itself does not.
PROBE = ('<script>document.addEventListener("DOMContentLoaded", function () {'
         'var e = document.scrollingElement, d = document.documentElement;'
         'd.setAttribute("data-probe-scroll-width", e.scrollWidth);'
         'd.setAttribute("data-probe-client-width", e.clientWidth);});</script>')
WORKLIST_SIZE = (1400, 1000)


@pytest.fixture(scope="module")
def real_lists(tmp_path_factory) -> Path:
    """The clinic lists of a real run: a small generated region loaded and checked by the
    pipeline as tests/e2e/test_ground_truth.py does, then rendered."""
    from datetime import datetime

    from flows import pipeline, warehouse
    from flows.synth import generate_region
    from reports.clinic import write_clinic_reports

    root = tmp_path_factory.mktemp("real")
    generate_region(root / "region", patients=400, seed=5, region="50",
                    as_of=datetime(2026, 11, 25, 23, 0))
    prepared = pipeline.prepare(root / "region" / "extract", root / "region" / "reference")
    with warehouse.connect(root / "w.duckdb") as con:
        run_id = pipeline.new_run_id()
        pipeline.load_run(con, prepared, run_id)
        pipeline.run_checks(con, run_id, prepared.as_of)
        write_clinic_reports(con, run_id, root / "out", workers=1)
    return root / "out" / "clinics"


def _probe(page: Path, work: Path) -> Path:
    """A copy of `page` that reports its layout: the page's CSP admits only Talon's own
    script, so the copy goes without it (the layout does not depend on it)."""
    html = page.read_text(encoding="utf-8")
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
    work.mkdir(parents=True, exist_ok=True)
    probe = work / page.name
    probe.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    return probe


def test_real_runs_work_list_fits_1400_px_without_scrolling(chromium, real_lists, tmp_path):
    """The biggest clinic list and the steward's (long raw lines) of a real run, grouped:
    at 1400 px nothing scrolls sideways; screenshots under tests/artifacts/."""
    lists = sorted(real_lists.glob("*.html"), key=lambda p: p.stat().st_size)
    biggest = next(p for p in reversed(lists) if p.stem != "unassigned")
    for page, shot in ((biggest, "worklist_1400.png"),
                       (real_lists / "unassigned.html", "worklist_unassigned_1400.png")):
        probe = _probe(page, tmp_path / "probe")
        visit = Visit(chromium, probe.as_uri(), tmp_path / f"v-{page.stem}",
                      screenshot=ARTIFACTS / shot, size=WORKLIST_SIZE)
        found = re.search(r'data-probe-scroll-width="(\d+)" data-probe-client-width="(\d+)"',
                          visit.dom)
        assert found, "the probe did not run"
        scroll, client = map(int, found.groups())
        assert client == WORKLIST_SIZE[0] and scroll <= WORKLIST_SIZE[0], (page.name, scroll)
        assert visit.dom.count('<section class="group') >= 5 and 'id="toc"' in visit.dom
        assert _png_size(ARTIFACTS / shot) == WORKLIST_SIZE
    # The page itself, unmodified: offline, its script runs, nothing blocked.
    visit = Visit(chromium, biggest.as_uri(), tmp_path / "page", size=WORKLIST_SIZE)
    assert 'data-js="ready"' in visit.dom and "ФИО пациента" in visit.dom
    _assert_offline_and_clean(visit)


def test_real_runs_work_lists_read_the_same_in_a_browser(chromium, real_lists, tmp_path):
    """A work list's rows leave out their optional end tags (issue 15): Chromium builds every
    table, row and cell the page's source holds, the same texts in the same columns."""
    from worklist_pages import groups

    lists = sorted(real_lists.glob("*.html"), key=lambda p: p.stat().st_size)
    biggest = next(p for p in reversed(lists) if p.stem != "unassigned")
    for page in (biggest, real_lists / "unassigned.html"):
        visit = Visit(chromium, page.as_uri(), tmp_path / f"dom-{page.stem}",
                      size=WORKLIST_SIZE)
        built = tmp_path / f"{page.stem}-dom.html"
        built.write_text(visit.dom, encoding="utf-8")
        source = [(g.code, g.headers, g.rows) for g in groups(page)]
        assert source and sum(len(rows) for _, _, rows in source) > 1
        assert [(g.code, g.headers, g.rows) for g in groups(built)] == source


def test_real_runs_work_list_prints_on_a4_landscape(chromium, real_lists, tmp_path):
    lists = sorted(real_lists.glob("*.html"), key=lambda p: p.stat().st_size)
    pdf = tmp_path / "worklist.pdf"
    Visit(chromium, lists[-1].as_uri(), tmp_path / "print", pdf=pdf)
    raw = pdf.read_bytes()
    boxes = {tuple(float(x) for x in m.split()) for m in
             re.findall(rb"/MediaBox\s*\[([^\]]*)\]", raw)}
    assert boxes, "no page in the PDF"
    for _, _, width, height in boxes:  # A4 landscape: 842 x 595 points
        assert abs(width - 842) < 2 and abs(height - 595) < 2, (width, height)
    assert len(re.findall(rb"/Type\s*/Page[^s]", raw)) >= 2
