"""Pure parsers for `ethtool` text output (-i, -k, -g, -l).

The agent reads the same facts through the ioctl (ethtool_ioctl); these parsers
serve captured outputs (fixtures, support bundles) and hosts where only the text
is at hand. They return the ioctl module's value types so both paths compare.
"""

from __future__ import annotations

from .ethtool_ioctl import Channels, DrvInfo, Rings


def _pairs(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        if ":" not in line or line.lstrip().startswith("#"):
            continue
        key, _, value = line.partition(":")
        out.append((key.strip(), value.strip()))
    return out


def parse_driver_info(text: str) -> DrvInfo:
    """`ethtool -i IFACE`: driver, version, firmware-version, bus-info."""
    d = dict(_pairs(text))
    if "driver" not in d:
        raise ValueError("not `ethtool -i` output: no 'driver:' line")
    return DrvInfo(
        driver=d["driver"],
        version=d.get("version", ""),
        firmware=d.get("firmware-version", ""),
        bus_info=d.get("bus-info", ""),
    )


def parse_features(text: str) -> dict[str, bool]:
    """`ethtool -k IFACE`: feature -> on/off; '[fixed]' and '[requested on]' notes are dropped."""
    out: dict[str, bool] = {}
    for key, value in _pairs(text):
        if key.startswith("Features for") or not value:
            continue
        state = value.split()[0]
        if state in ("on", "off"):
            out[key] = state == "on"
    return out


def _sections(text: str, first: str, second: str) -> tuple[dict[str, str], dict[str, str]]:
    """Split ethtool's 'Pre-set maximums' / 'Current hardware settings' halves."""
    maxima: dict[str, str] = {}
    current: dict[str, str] = {}
    target: dict[str, str] | None = None
    seen_keys: set[str] = set()
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(first):
            target = maxima
            continue
        if stripped.startswith(second):
            target = current
            continue
        if ":" not in stripped:
            continue
        key, _, value = stripped.partition(":")
        key, value = key.strip(), value.strip()
        if target is None:
            # Newer ethtool sometimes drops the headings; a repeated key starts the second half.
            if key in seen_keys:
                target = current
            else:
                seen_keys.add(key)
                maxima[key] = value
                continue
        target[key] = value
    return maxima, current


def _num(value: str | None) -> int:
    if value is None or value in ("n/a", ""):
        return 0
    return int(value)


def parse_rings(text: str) -> Rings:
    """`ethtool -g IFACE`: current and maximum RX/TX descriptors."""
    maxima, current = _sections(text, "Pre-set maximums", "Current hardware settings")
    if "RX" not in maxima or "RX" not in current:
        raise ValueError("not `ethtool -g` output: need RX lines for maximums and current settings")
    return Rings(
        rx=_num(current.get("RX")),
        tx=_num(current.get("TX")),
        rx_max=_num(maxima.get("RX")),
        tx_max=_num(maxima.get("TX")),
    )


def parse_channels(text: str) -> Channels:
    """`ethtool -l IFACE`: queue (channel) counts and maxima; 'n/a' reads as 0."""
    maxima, current = _sections(text, "Pre-set maximums", "Current hardware settings")
    if "Combined" not in maxima or "Combined" not in current:
        raise ValueError("not `ethtool -l` output: need Combined lines for both halves")
    return Channels(
        rx=_num(current.get("RX")),
        tx=_num(current.get("TX")),
        other=_num(current.get("Other")),
        combined=_num(current.get("Combined")),
        max_rx=_num(maxima.get("RX")),
        max_tx=_num(maxima.get("TX")),
        max_other=_num(maxima.get("Other")),
        max_combined=_num(maxima.get("Combined")),
    )
