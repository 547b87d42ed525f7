"""The probe report: what the agent found on a host, as a versioned JSON document.

Both sides use this module: the agent builds a `ProbeReport` and sends
`report.to_dict()` as JSON (ProbeResponse.report_json); the controller reads it
back with `ProbeReport.from_dict`, stores it with the run and checks scenarios
against it (controller.preflight). Values are frozen dataclasses, validated when
created; `None` always means "unknown / not reported by this host".

`from_dict` refuses documents of another `schema_version` with a ValueError that
says which version it got and which it understands: a newer agent talking to an
older controller must be upgraded, not half-read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

SCHEMA_VERSION = 1

Severity = Literal["info", "warning", "error"]
SEVERITIES: tuple[str, ...] = ("info", "warning", "error")
DPDK_DRIVERS: frozenset[str] = frozenset({"vfio-pci", "igb_uio", "uio_pci_generic"})


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _str_list(value: Any) -> list[str]:
    return [str(v) for v in (value or [])]


@dataclass(frozen=True)
class Quirk:
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

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "message": self.message}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Quirk:
        return cls(
            code=str(d["code"]), severity=cast(Severity, d["severity"]), message=str(d["message"])
        )


@dataclass(frozen=True)
class InterfaceProbe:
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
    # The device is driven from user space (DPDK); the kernel no longer sees its traffic.
    kernel_bypass: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "driver": self.driver,
            "driver_version": self.driver_version,
            "firmware": self.firmware,
            "bus_info": self.bus_info,
            "numa_node": self.numa_node,
            "speed_mbps": self.speed_mbps,
            "duplex": self.duplex,
            "mtu": self.mtu,
            "mac": self.mac,
            "oper_state": self.oper_state,
            "ifindex": self.ifindex,
            "rx_queues": self.rx_queues,
            "tx_queues": self.tx_queues,
            "ring_rx": self.ring_rx,
            "ring_tx": self.ring_tx,
            "ring_rx_max": self.ring_rx_max,
            "ring_tx_max": self.ring_tx_max,
            "channels_combined": self.channels_combined,
            "offloads": dict(self.offloads),
            "qdisc": self.qdisc,
            "counters": dict(self.counters),
            "management": self.management,
            "management_reason": self.management_reason,
            "zc": self.zc,
            "zc_reason": self.zc_reason,
            "kernel_bypass": self.kernel_bypass,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InterfaceProbe:
        return cls(
            name=str(d["name"]),
            driver=_opt_str(d.get("driver")),
            driver_version=_opt_str(d.get("driver_version")),
            firmware=_opt_str(d.get("firmware")),
            bus_info=_opt_str(d.get("bus_info")),
            numa_node=_opt_int(d.get("numa_node")),
            speed_mbps=_opt_int(d.get("speed_mbps")),
            duplex=_opt_str(d.get("duplex")),
            mtu=_opt_int(d.get("mtu")),
            mac=_opt_str(d.get("mac")),
            oper_state=_opt_str(d.get("oper_state")),
            ifindex=_opt_int(d.get("ifindex")),
            rx_queues=_opt_int(d.get("rx_queues")),
            tx_queues=_opt_int(d.get("tx_queues")),
            ring_rx=_opt_int(d.get("ring_rx")),
            ring_tx=_opt_int(d.get("ring_tx")),
            ring_rx_max=_opt_int(d.get("ring_rx_max")),
            ring_tx_max=_opt_int(d.get("ring_tx_max")),
            channels_combined=_opt_int(d.get("channels_combined")),
            offloads={str(k): bool(v) for k, v in (d.get("offloads") or {}).items()},
            qdisc=_opt_str(d.get("qdisc")),
            counters={str(k): int(v) for k, v in (d.get("counters") or {}).items()},
            management=bool(d.get("management", False)),
            management_reason=str(d.get("management_reason", "")),
            zc=bool(d.get("zc", False)),
            zc_reason=str(d.get("zc_reason", "")),
            kernel_bypass=bool(d.get("kernel_bypass", False)),
        )


@dataclass(frozen=True)
class PfRingState:
    """PF_RING's kernel module is loaded (/proc/net/pf_ring exists)."""

    version: str | None = None
    total_rings: int | None = None
    info: dict[str, str] = field(default_factory=dict)
    zc_interfaces: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "total_rings": self.total_rings,
            "info": dict(self.info),
            "zc_interfaces": list(self.zc_interfaces),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PfRingState:
        return cls(
            version=_opt_str(d.get("version")),
            total_rings=_opt_int(d.get("total_rings")),
            info={str(k): str(v) for k, v in (d.get("info") or {}).items()},
            zc_interfaces=_str_list(d.get("zc_interfaces")),
        )


@dataclass(frozen=True)
class DpdkDevice:
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "pci": self.pci,
            "driver": self.driver,
            "description": self.description,
            "interface": self.interface,
            "unused": list(self.unused),
            "active": self.active,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DpdkDevice:
        return cls(
            pci=str(d["pci"]),
            driver=_opt_str(d.get("driver")),
            description=str(d.get("description", "")),
            interface=_opt_str(d.get("interface")),
            unused=_str_list(d.get("unused")),
            active=bool(d.get("active", False)),
        )


@dataclass(frozen=True)
class DpdkPort:
    """A DPDK port's capabilities, from testpmd output where it was available."""

    port_id: int
    driver: str | None = None
    device: str | None = None
    tx_offload_capa: list[str] = field(default_factory=list)

    @property
    def mbuf_fast_free(self) -> bool:
        return "MBUF_FAST_FREE" in self.tx_offload_capa

    def to_dict(self) -> dict[str, Any]:
        return {
            "port_id": self.port_id,
            "driver": self.driver,
            "device": self.device,
            "tx_offload_capa": list(self.tx_offload_capa),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DpdkPort:
        return cls(
            port_id=int(d["port_id"]),
            driver=_opt_str(d.get("driver")),
            device=_opt_str(d.get("device")),
            tx_offload_capa=_str_list(d.get("tx_offload_capa")),
        )


@dataclass(frozen=True)
class DpdkState:
    # Where the device list came from: "dpdk-devbind", "sysfs" or "" (nothing found).
    source: str = ""
    devices: list[DpdkDevice] = field(default_factory=list)
    ports: list[DpdkPort] = field(default_factory=list)

    @property
    def bypass_devices(self) -> list[DpdkDevice]:
        return [d for d in self.devices if d.kernel_bypass]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "devices": [d.to_dict() for d in self.devices],
            "ports": [p.to_dict() for p in self.ports],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DpdkState:
        return cls(
            source=str(d.get("source", "")),
            devices=[DpdkDevice.from_dict(x) for x in d.get("devices") or []],
            ports=[DpdkPort.from_dict(x) for x in d.get("ports") or []],
        )


@dataclass(frozen=True)
class ModuleInfo:
    """One line of /proc/modules, with holders merged in from /sys/module/<name>/holders."""

    name: str
    size: int = 0
    # None: the kernel reports "-" (module unloading not supported for it).
    refcount: int | None = 0
    used_by: list[str] = field(default_factory=list)
    state: str = "Live"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size": self.size,
            "refcount": self.refcount,
            "used_by": list(self.used_by),
            "state": self.state,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModuleInfo:
        return cls(
            name=str(d["name"]),
            size=int(d.get("size", 0)),
            refcount=_opt_int(d.get("refcount")),
            used_by=_str_list(d.get("used_by")),
            state=str(d.get("state", "Live")),
        )


@dataclass(frozen=True)
class ModuleSnapshot:
    modules: list[ModuleInfo] = field(default_factory=list)

    def by_name(self) -> dict[str, ModuleInfo]:
        return {m.name: m for m in self.modules}

    def to_dict(self) -> dict[str, Any]:
        return {"modules": [m.to_dict() for m in self.modules]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModuleSnapshot:
        return cls(modules=[ModuleInfo.from_dict(x) for x in d.get("modules") or []])


@dataclass(frozen=True)
class ReloadImpact:
    """What `modprobe -r <module>` would take down (see agent.probes.modules.reload_impact)."""

    module: str
    modules_removed: list[str] = field(default_factory=list)
    interfaces_down: list[str] = field(default_factory=list)
    management_affected: bool = False
    dangerous: bool = False
    explanation: str = ""
    safer_alternative: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "modules_removed": list(self.modules_removed),
            "interfaces_down": list(self.interfaces_down),
            "management_affected": self.management_affected,
            "dangerous": self.dangerous,
            "explanation": self.explanation,
            "safer_alternative": self.safer_alternative,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReloadImpact:
        return cls(
            module=str(d["module"]),
            modules_removed=_str_list(d.get("modules_removed")),
            interfaces_down=_str_list(d.get("interfaces_down")),
            management_affected=bool(d.get("management_affected", False)),
            dangerous=bool(d.get("dangerous", False)),
            explanation=str(d.get("explanation", "")),
            safer_alternative=str(d.get("safer_alternative", "")),
        )


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
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(_version_error(self.schema_version))

    def interface(self, name: str) -> InterfaceProbe | None:
        for itf in self.interfaces:
            if itf.name == name:
                return itf
        return None

    @property
    def management_interfaces(self) -> list[str]:
        return [i.name for i in self.interfaces if i.management]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "hostname": self.hostname,
            "kernel": self.kernel,
            "netns": self.netns,
            "netns_name": self.netns_name,
            "interfaces": [i.to_dict() for i in self.interfaces],
            "pf_ring": None if self.pf_ring is None else self.pf_ring.to_dict(),
            "dpdk": self.dpdk.to_dict(),
            "modules": None if self.modules is None else self.modules.to_dict(),
            "quirks": [q.to_dict() for q in self.quirks],
            "reload_impact": None if self.reload_impact is None else self.reload_impact.to_dict(),
            "sysctls": dict(self.sysctls),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ProbeReport:
        if not isinstance(d, Mapping):
            raise ValueError(f"probe report must be a JSON object, got {type(d).__name__}")
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(_version_error(version))
        try:
            return cls(
                schema_version=SCHEMA_VERSION,
                hostname=str(d["hostname"]),
                kernel=str(d["kernel"]),
                netns=bool(d.get("netns", False)),
                netns_name=str(d.get("netns_name") or ""),
                interfaces=[InterfaceProbe.from_dict(x) for x in d.get("interfaces") or []],
                pf_ring=None if d.get("pf_ring") is None else PfRingState.from_dict(d["pf_ring"]),
                dpdk=DpdkState.from_dict(d.get("dpdk") or {}),
                modules=None
                if d.get("modules") is None
                else ModuleSnapshot.from_dict(d["modules"]),
                quirks=[Quirk.from_dict(x) for x in d.get("quirks") or []],
                reload_impact=(
                    None
                    if d.get("reload_impact") is None
                    else ReloadImpact.from_dict(d["reload_impact"])
                ),
                sysctls={str(k): int(v) for k, v in (d.get("sysctls") or {}).items()},
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(
                f"malformed probe report: {exc!r} (missing or mistyped field)"
            ) from exc


def _version_error(version: object) -> str:
    return (
        f"probe report schema_version {version!r} is not supported: this ringlab understands "
        f"version {SCHEMA_VERSION}; run the same ringlab version on the agent and the controller"
    )
