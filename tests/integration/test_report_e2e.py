"""A report of real runs: a bidirectional and a time-sliced run on the built-in lab.

Both runs are made with the real `ringlab run` (temporary lab, run store in
tmp_path), rendered with `ringlab report`, checked for content, then opened
offline in headless Chromium (apt package `chromium`) for a screenshot.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import needs_root, ringlab

from ringlab.controller.store.database import Store

pytestmark = needs_root

BIDIRECTIONAL = """\
version: 1
name: rep-bidir
mode: bidirectional
duration: 1s
hosts: {a: {}, b: {}}
flows:
  - {from: a, to: b, frame_size: 64, rate: 20kpps}
  - {from: b, to: a, frame_size: 64, rate: 20kpps}
"""

TIME_SLICED = """\
version: 1
name: rep-sliced
mode: time-sliced
hosts: {a: {}, b: {}}
flows:
  - {from: a, to: b, frame_size: 64, rate: 20kpps}
  - {from: b, to: a, frame_size: 64, rate: 20kpps}
time_slice: {slice: 1s, gap: 100ms, rounds: 1}
"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, dict[str, str], list[str]]]:
    base = tmp_path_factory.mktemp("report")
    env = {"RINGLAB_DB": str(base / "runs.db"), "RINGLAB_LAB_DIR": str(base / "labs")}
    ids = []
    for name, text in (("bidir.yaml", BIDIRECTIONAL), ("sliced.yaml", TIME_SLICED)):
        path = base / name
        path.write_text(text)
        done = ringlab("run", str(path), "--json", env=env)
        assert done.returncode == 0, done.stderr
        ids.append(json.loads(done.stdout)["run_id"])
    yield base, env, ids


def test_report_of_a_bidirectional_and_a_time_sliced_run(
    runs: tuple[Path, dict[str, str], list[str]],
) -> None:
    base, env, (bidir_id, sliced_id) = runs
    out = base / "report.html"
    done = ringlab("report", bidir_id, sliced_id, "-o", str(out), env=env)
    assert done.returncode == 0, done.stderr
    html = out.read_text()
    with Store(Path(env["RINGLAB_DB"])) as store:
        bidir, sliced = store.get(bidir_id), store.get(sliced_id)

    # Runs side by side, one flow table per phase (1 + 2), one chart per run + the panel.
    assert f"#1 {bidir_id}" in html and f"#2 {sliced_id}" in html
    assert len(re.findall(r'<table class="flows">', html)) == 3
    assert html.count("<svg") == 3
    assert "<script" not in html and not re.search(r"(src|href)=\"(https?:)?//", html)
    # Probe summary of the lab's veth interfaces.
    assert "veth" in html

    # Two scenarios: no run is compared with a run of the other (no % change between
    # them), they are side by side with a warning; the numbers are the stored ones.
    b_ab = bidir.phases[0].flows[0]
    s_ab = next(f for p in sliced.phases for f in p.flows if f.name == "a->b")
    differences = html[html.index('id="differences"') : html.index('id="groups"')]
    assert "2 different scenarios or tools" in differences
    assert '<table class="differences">' not in differences
    assert not re.search(r"[+-]\d+\.\d\d%", differences)
    assert f"{b_ab.rx_pps / 1e3:.2f}kpps" in differences
    assert f"{s_ab.rx_pps / 1e3:.2f}kpps" in differences

    # The bidirectional vs time-sliced panel pairs the two runs and says which it averages.
    change = (s_ab.rx_pps - b_ab.rx_pps) / b_ab.rx_pps
    panel = html[html.index('id="groups"') :]
    panel = panel[: panel.index("</table>")]
    assert f"bidirectional: #1 {bidir_id} (scenario rep-bidir)" in panel
    assert f"time-sliced: #2 {sliced_id} (scenario rep-sliced)" in panel
    assert f"{b_ab.rx_pps / 1e3:.2f}kpps" in panel and f"{s_ab.rx_pps / 1e3:.2f}kpps" in panel
    assert f"{change * 100:+.2f}%" in panel

    browser = chromium()
    if browser is None:
        pytest.skip(
            "chromium is not installed (apt-get install chromium) for the offline screenshot"
        )
    shot = base / "report.png"
    profile = base / "chromium-profile"
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
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            "--window-size=1400,2000",
            out.resolve().as_uri(),
        ],
        capture_output=True,
        timeout=60,
        check=True,
        env={**os.environ, "HOME": str(base)},
    )
    # A blank page of this size compresses to a few kilobytes; charts and tables do not.
    assert shot.stat().st_size > 50_000
