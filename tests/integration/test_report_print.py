"""A report printed to PDF keeps each table's header with its rows and never wraps a flow name.

Two real runs of a 24-flow scenario (`ringlab run`, temporary lab, 1 s) and an iperf3
import (a real client's JSON, 1046-byte frames), reported with `ringlab report`, printed
by headless Chromium (`--print-to-pdf`) and read back page by page with poppler's
`pdftotext -layout`. The side-by-side table (every flow of the three runs, ~50 rows)
spans pages: each page that holds rows of any table must show that table's header
above them. PNGs of the pages (`pdftoppm`) are left in the test's directory to look at.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import needs_root, ringlab

pytestmark = [needs_root, pytest.mark.drill]

FIXTURES = Path(__file__).parents[1] / "fixtures" / "report"
FLOWS_PER_DIRECTION = 12

SCENARIO = (
    "version: 1\nname: rep-many\nmode: bidirectional\nduration: 1s\nhosts: {a: {}, b: {}}\n"
    "flows:\n"
    + "".join(
        f"  - {{from: {src}, to: {dst}, frame_size: 64, rate: 1kpps}}\n"
        for src, dst in (("a", "b"), ("b", "a"))
        for _ in range(FLOWS_PER_DIRECTION)
    )
)

# A table row: a flow name (a->b, a->b#12) at its start, or after the phase name, then a
# number or an engine. A table header: "flow" followed by "engine" or "frame".
ROW = re.compile(r"^\s*(bidirectional\s+|main\s+)?[ab]->[ab](#\d+)?\s+(ring|iperf3|\d+)\b")
HEADER = re.compile(r"\bflow\s+(engine|frame)\b")
SIDE_BY_SIDE_ROW = re.compile(r"^\s*[ab]->[ab](#\d+)?\s+\d+\s+#\d ")
HEADING = re.compile(r"vs baseline #\d|Side by side, not compared|^\s*#\d \S+ · ")


def tool(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(f"{names[0]} is not installed (apt-get install {names[-1]})")


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    browser = tool("chromium", "chromium-browser", "chromium")
    tool("pdftotext", "poppler-utils")
    base = tmp_path_factory.mktemp("print")
    env = {"RINGLAB_DB": str(base / "runs.db"), "RINGLAB_LAB_DIR": str(base / "labs")}
    scenario = base / "many.yaml"
    scenario.write_text(SCENARIO)
    ids = []
    for _ in range(2):
        done = ringlab("run", str(scenario), "--json", env=env, timeout=180)
        # Exit 1 is a run stored with a missed expectation (24 senders on a busy 2-core
        # machine can fall behind schedule): still a real run to report.
        assert done.returncode in (0, 1), done.stderr
        result = json.loads(done.stdout)
        assert sum(len(p["flows"]) for p in result["phases"]) == 2 * FLOWS_PER_DIRECTION
        ids.append(result["run_id"])
    imported = ringlab(
        "runs", "import", str(FIXTURES / "iperf3_udp_b20m.json"), "--as", "iperf-ref",
        "--hosts", "a,b", "--tag", "iperf", env=env,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    html = base / "report.html"
    done = ringlab("report", *ids, "iperf", "--no-trends", "-o", str(html), env=env)
    assert done.returncode == 0, done.stderr
    pdf = base / "report.pdf"
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={base / 'chromium-profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            html.resolve().as_uri(),
        ],
        capture_output=True,
        timeout=90,
        check=True,
        env={**os.environ, "HOME": str(base)},
    )
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "70", str(pdf), str(base / "page")], check=True)
    pages = text.split("\f")
    return base, [page for page in pages if page.strip()]


def test_every_page_with_table_rows_shows_the_table_header_above_them(
    printed: tuple[Path, list[str]],
) -> None:
    _, pages = printed
    with_rows = 0
    for number, page in enumerate(pages, 1):
        lines = page.splitlines()
        rows = [i for i, line in enumerate(lines) if ROW.match(line)]
        if not rows:
            continue
        with_rows += 1
        headers = [i for i, line in enumerate(lines) if HEADER.search(line)]
        assert headers and headers[0] < rows[0], f"page {number} starts rows without a header"
    # The side-by-side table is long enough to go on over a page break (what is checked).
    spanned = sum(1 for page in pages if any(SIDE_BY_SIDE_ROW.match(x) for x in page.splitlines()))
    assert spanned >= 2, "the side-by-side table fit on one page; make it longer"
    assert with_rows >= 3


def test_no_page_ends_with_a_heading_cut_from_its_table(
    printed: tuple[Path, list[str]],
) -> None:
    _, pages = printed
    for number, page in enumerate(pages[:-1], 1):
        last = [line for line in page.splitlines() if line.strip()][-1]
        assert not HEADING.search(last), f"page {number} ends with the heading {last.strip()!r}"


def test_flow_names_are_never_wrapped(printed: tuple[Path, list[str]]) -> None:
    _, pages = printed
    lines = [line for page in pages for line in page.splitlines()]
    assert sum(line.count("a->b") for line in lines) > 2 * FLOWS_PER_DIRECTION
    cut = [
        line
        for line in lines
        if re.search(r"(^|\s)[ab]->?\s*$", line) or re.match(r"^\s*-?>[ab]\b", line)
    ]
    assert cut == []


def test_the_printed_report_compares_like_with_like(printed: tuple[Path, list[str]]) -> None:
    _, pages = printed
    text = "\n".join(pages)
    assert "2 different scenarios or tools" in text
    assert "20 Mbit/s" in text  # the iperf3 import's -b 20M
    # The second run against the first of its scenario; the iperf3 import against nothing.
    assert len(re.findall(r"vs baseline #1 ", text)) == 1
