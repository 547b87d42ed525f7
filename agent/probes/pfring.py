"""PF_RING state: /proc/net/pf_ring/info and the per-device info files.

PF_RING ZC drivers let one process own an interface at a time; when both ends of
a bidirectional test open the same ZC interfaces, receivers read 0 while
transmit counters climb. Detecting ZC here lets the preflight insist on
time-sliced mode (or an explicit override).
"""

from __future__ import annotations

import re
from pathlib import Path

from ringlab.probe_model import PfRingState


def parse_colon_fields(text: str) -> dict[str, str]:
    """'Key : value' and 'Key: value' lines; section headings without a colon are skipped."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if ":" not in line or line.lstrip().startswith("#"):
            continue
        key, _, value = line.partition(":")
        out[key.strip()] = value.strip()
    return out


def parse_pf_ring_info(text: str) -> PfRingState:
    fields = parse_colon_fields(text)
    version = fields.get("PF_RING Version")
    rings = fields.get("Total rings")
    return PfRingState(
        version=version.split()[0] if version else None,
        total_rings=int(rings) if rings and rings.isdigit() else None,
        info=fields,
    )


def polling_mode_is_zc(dev_info_text: str) -> bool:
    """'Polling Mode: NAPI/ZC' (or ZC/NAPI) marks a ZC driver; plain 'NAPI' is vanilla."""
    mode = parse_colon_fields(dev_info_text).get("Polling Mode", "")
    return "ZC" in mode.upper().split("/")


def zc_driver_name(driver: str | None) -> bool:
    """PF_RING ships its ZC drivers as separate modules named <driver>_zc (i40e_zc, ice_zc...)."""
    return bool(driver) and driver.endswith("_zc")  # type: ignore[union-attr]


_ZC_TOOL_VERSION = re.compile(r"^Using (?:PFRING_ZC|PF_RING) v\.(\S+)", re.MULTILINE)


def parse_zc_tool_version(text: str) -> str | None:
    """`zsend -h` / `zcount -h`: "Using PFRING_ZC v.8.9.0.241112" (zsend.c line 215) or
    "Using PF_RING v.8.9.0.241112" (zcount.c line 166; older zcount said PFRING_ZC too)."""
    m = _ZC_TOOL_VERSION.search(text)
    return m.group(1) if m else None


def read_pf_ring(root: Path) -> PfRingState | None:
    base = root / "proc/net/pf_ring"
    try:
        text = (base / "info").read_text()
    except OSError:
        return None
    state = parse_pf_ring_info(text)
    zc: list[str] = []
    try:
        devs = sorted(p for p in (base / "dev").iterdir())
    except OSError:
        devs = []
    for dev in devs:
        try:
            if polling_mode_is_zc((dev / "info").read_text()):
                zc.append(dev.name)
        except OSError:
            continue
    return PfRingState(state.version, state.total_rings, state.info, zc)
