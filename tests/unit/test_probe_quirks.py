from __future__ import annotations

import pytest

from ringlab.agent.probes import quirks


def codes(release: str) -> set[str]:
    return {q.code for q in quirks.kernel_quirks(release)}


def test_parse_kernel_version() -> None:
    assert quirks.parse_kernel_version("6.18.44-fc-v669") == (6, 18, 44)
    assert quirks.parse_kernel_version("3.10.0-957.el7.x86_64") == (3, 10, 0)
    assert quirks.parse_kernel_version("4.1") == (4, 1, 0)
    with pytest.raises(ValueError, match=r"MAJOR\.MINOR"):
        quirks.parse_kernel_version("linux")


@pytest.mark.parametrize(
    ("release", "expected"),
    [
        ("6.18.44-fc-v669", set()),
        ("4.1.0", set()),
        ("4.0.9", {"tx_ring_dontwait_ignored"}),
        ("3.14.0", {"tx_ring_dontwait_ignored"}),
        ("3.13.11", {"tx_ring_dontwait_ignored", "qdisc_bypass_missing"}),
        ("3.2.0", {"tx_ring_dontwait_ignored", "qdisc_bypass_missing"}),
        ("3.1.10", {"tx_ring_dontwait_ignored", "qdisc_bypass_missing", "tpacket_v3_missing"}),
        ("garbage", {"kernel_version_unknown"}),
    ],
)
def test_kernel_quirk_thresholds(release: str, expected: set[str]) -> None:
    assert codes(release) == expected


def test_quirk_messages_carry_the_fix() -> None:
    for q in quirks.kernel_quirks("3.0.0"):
        assert "Fix:" in q.message


def test_socket_buffer_limits() -> None:
    sysctls = {quirks.WMEM_MAX: 212992, quirks.RMEM_MAX: 4194304}
    (q,) = quirks.socket_buffer_quirks(sysctls, requested_sndbuf=8 << 20, requested_rcvbuf=1 << 20)
    assert q.code == "wmem_max_too_small"
    assert "sysctl -w net.core.wmem_max=8388608" in q.message
    assert quirks.socket_buffer_quirks(sysctls, 200000, 4194304) == []
    assert quirks.socket_buffer_quirks({}, 1 << 30, 1 << 30) == []
