"""The probe report: what the agent found on a host, as a versioned JSON document.

Both sides use this module: the agent builds a `ProbeReport` and sends
`report.to_dict()` as JSON (ProbeResponse.report_json); the controller reads it
back with `ProbeReport.from_dict` (both through ringlab.codec, from the fields), stores it with the run and checks scenarios
against it (controller.checks.preflight). Values are frozen dataclasses, validated when
created; `None` always means "unknown / not reported by this host".

`from_dict` refuses documents of another `schema_version` with a ValueError that
says which version it got and which it understands: a newer agent talking to an
older controller must be upgraded, not half-read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ringlab.codec import JsonRecord, from_jsonable, to_jsonable
from ringlab.severity import SEVERITIES, Severity

SCHEMA_VERSION = 1

DPDK_DRIVERS: frozenset[str] = frozenset({"vfio-pci", "igb_uio", "uio_pci_generic"})


@dataclass(frozen=True)
class Quirk(JsonRecord):
    """A host property that changes how a test behaves; `message` says what it means and the fix."""

    code: str
    severity: Severity
    message: str

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"quirk {self.code!r}: severity must be one of {', '.join(SEVERITIES)}, "
                f"got {self.severity!r}"
            )


@dataclass(frozen=True)
class InterfaceProbe(JsonRecord):
    name: str
    driver: str | None = None
    driver_version: str | None = None
    firmware: str | None = None
    bus_info: str | None = None
    numa_node: int | None = None
    speed_mbps: int | None = None
    duplex: str | None = None
    mtu: int | None = None
    mac: str | None = None
    oper_state: str | None = None
    ifindex: int | None = None
    rx_queues: int | None = None
    tx_queues: int | None = None
    ring_rx: int | None = None
    ring_tx: int | None = None
    ring_rx_max: int | None = None
    ring_tx_max: int | None = None
    channels_combined: int | None = None
    offloads: dict[str, bool] = field(default_factory=dict)
    qdisc: str | None = None
    counters: dict[str, int] = field(default_factory=dict)
    management: bool = False
    management_reason: str = ""
    zc: bool = False
    zc_reason: str = ""
    # AF_XDP: the XDP program on the interface (IFLA_XDP: none, native, generic, offload,
    # several; its id and name), and the queues a socket may bind (ETHTOOL_GCHANNELS).
    xdp_attached: str | None = None
    xdp_prog_id: int | None = None
    xdp_prog_name: str | None = None
    xdp_queues: int | None = None
    # The device is driven from user space (DPDK); the kernel no longer sees its traffic.
    kernel_bypass: bool = False


@dataclass(frozen=True)
class PfRingState(JsonRecord):
    """PF_RING's kernel module is loaded (/proc/net/pf_ring exists)."""

    version: str | None = None
    total_rings: int | None = None
    info: dict[str, str] = field(default_factory=dict)
    zc_interfaces: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DpdkDevice(JsonRecord):
    """One PCI network device as dpdk-devbind or /sys/bus/pci sees it."""

    pci: str
    driver: str | None = None
    description: str = ""
    interface: str | None = None
    unused: list[str] = field(default_factory=list)
    active: bool = False

    @property
    def kernel_bypass(self) -> bool:
        return self.driver in DPDK_DRIVERS


@dataclass(frozen=True)
class DpdkPort(JsonRecord):
    """A DPDK port's capabilities, from testpmd output where it was available."""

    port_id: int
    driver: str | None = None
    device: str | None = None
    tx_offload_capa: list[str] = field(default_factory=list)

    @property
    def mbuf_fast_free(self) -> bool:
        return "MBUF_FAST_FREE" in self.tx_offload_capa


@dataclass(frozen=True)
class DpdkState(JsonRecord):
    # Where the device list came from: "dpdk-devbind", "sysfs" or "" (nothing found).
    source: str = ""
    devices: list[DpdkDevice] = field(default_factory=list)
    ports: list[DpdkPort] = field(default_factory=list)
    # /proc/meminfo's HugePages_Total and HugePages_Free (pages of the default size);
    # None when not read (an agent from before they were probed).
    hugepages_total: int | None = None
    hugepages_free: int | None = None

    @property
    def bypass_devices(self) -> list[DpdkDevice]:
        return [d for d in self.devices if d.kernel_bypass]


# The tools external engines run (agent.external), and where each comes from: the
# agent probes these names on its PATH, the preflight names the package when one is
# missing. PF_RING's tools are in ntop's `pfring` package (its kernel module in
# `pfring-dkms`), from ntop's repository, not Debian's.
_PFRING_PACKAGE = (
    "ntop's `pfring` package (add ntop's repository from https://packages.ntop.org, then "
    "`apt install pfring pfring-dkms`)"
)
EXTERNAL_TOOLS: dict[str, str] = {
    "dpdk-testpmd": "Debian's `dpdk-dev` package (`apt install dpdk-dev`)",
    "pfsend": _PFRING_PACKAGE,
    "pfcount": _PFRING_PACKAGE,
    "zsend": _PFRING_PACKAGE,
    "zcount": _PFRING_PACKAGE,
}


@dataclass(frozen=True)
class ToolProbe(JsonRecord):
    """An external engine's tool as the agent finds it on its PATH (agent.probes.tools)."""

    name: str
    # None: not on the agent's PATH.
    path: str | None = None
    # None: unknown; `version_note` says why (the tool has no version flag, it failed...).
    version: str | None = None
    version_note: str = ""

    @property
    def installed(self) -> bool:
        return self.path is not None


@dataclass(frozen=True)
class ModuleInfo(JsonRecord):
    """One line of /proc/modules, with holders merged in from /sys/module/<name>/holders."""

    name: str
    size: int = 0
    # None: the kernel reports "-" (module unloading not supported for it).
    refcount: int | None = 0
    used_by: list[str] = field(default_factory=list)
    state: str = "Live"


@dataclass(frozen=True)
class ModuleSnapshot(JsonRecord):
    modules: list[ModuleInfo] = field(default_factory=list)

    def by_name(self) -> dict[str, ModuleInfo]:
        return {m.name: m for m in self.modules}


@dataclass(frozen=True)
class ReloadImpact(JsonRecord):
    """What `modprobe -r <module>` would take down (see agent.probes.modules.reload_impact)."""

    module: str
    modules_removed: list[str] = field(default_factory=list)
    interfaces_down: list[str] = field(default_factory=list)
    management_affected: bool = False
    dangerous: bool = False
    explanation: str = ""
    safer_alternative: str = ""


@dataclass(frozen=True)
class ProbeReport:
    hostname: str
    kernel: str
    # True when the probe ran in a network namespace other than the host's initial one.
    netns: bool = False
    # Its name when the agent was started in a named one (`ip -n NAME ...` reaches it).
    netns_name: str = ""
    interfaces: list[InterfaceProbe] = field(default_factory=list)
    pf_ring: PfRingState | None = None
    dpdk: DpdkState = field(default_factory=DpdkState)
    modules: ModuleSnapshot | None = None
    quirks: list[Quirk] = field(default_factory=list)
    reload_impact: ReloadImpact | None = None
    # net.core.{w,r}mem_{max,default}: the preflight compares them with a run's ring sizes.
    sysctls: dict[str, int] = field(default_factory=dict)
    # External engines' tools (EXTERNAL_TOOLS). None: not looked for (an agent older
    # than the external engines, or a probe of a fake tree), so nothing is known missing.
    tools: list[ToolProbe] | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(_version_error(self.schema_version))

    def interface(self, name: str) -> InterfaceProbe | None:
        for itf in self.interfaces:
            if itf.name == name:
                return itf
        return None

    def tool(self, name: str) -> ToolProbe | None:
        """The probe of one external tool; None when the report does not cover it."""
        for found in self.tools or ():
            if found.name == name:
                return found
        return None

    @property
    def management_interfaces(self) -> list[str]:
        return [i.name for i in self.interfaces if i.management]

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = to_jsonable(self)
        return result

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ProbeReport:
        if not isinstance(d, Mapping):
            raise ValueError(f"probe report must be a JSON object, got {type(d).__name__}")
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(_version_error(version))
        try:
            return from_jsonable(cls, d)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(
                f"malformed probe report: {exc!r} (missing or mistyped field)"
            ) from exc


def _version_error(version: object) -> str:
    return (
        f"probe report schema_version {version!r} is not supported: this ringlab understands "
        f"version {SCHEMA_VERSION}; run the same ringlab version on the agent and the controller"
    )
