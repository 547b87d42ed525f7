"""DPDK testpmd as an engine: its command line, and what its output says. Pure.

testpmd (Debian's dpdk-dev, 22.11) runs without hugepages or PCI (`--no-huge --no-pci`),
on the interface through a virtual device: `net_af_packet0,iface=IF` (an AF_PACKET
socket: works on any interface, the default) or `net_af_xdp0,iface=IF` (an AF_XDP
socket on queue 0: one owner per queue, the contention ringlab's xdp engine shares).
On a real NIC (`pci`) it drives one PCI port by address (`-a ADDR`) with hugepages.
It runs interactive (`-i`), driven on its stdin: started at Prepare, it is ready
once it answers `show port stats 0` (EAL initialised, port configured: an af_xdp socket
refused shows here, before any traffic); `start` at the scheduled instant, `show port
stats 0` for live counters, `stop` (the final forward statistics) and `quit` at the end.
Not `--auto-start` at the scheduled instant: EAL's start-up took 0.3 s on an idle host
and 1.9-3.1 s with the peer's testpmd polling on the other CPU, so a 2 s flow sent for
a few milliseconds. The parser also reads `--auto-start --stats-period 1` output (its
periodic blocks come behind a screen-clear escape). Outputs as captured here:
tests/fixtures/testpmd/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ringlab.agent.external.process import ToolSpec

BINARY = "dpdk-testpmd"
PACKAGE = "Debian's dpdk-dev package (apt-get install dpdk-dev)"
VDEVS = {"af_packet": "net_af_packet0", "af_xdp": "net_af_xdp0"}
# tool_device "pci": a real port by PCI address, bound to a DPDK driver (the agent checks
# that first: agent/management.py pci_port_refusal). Fixture-tested only: no DPDK-capable
# NIC where ringlab is developed (docs/external-engines.md, "Real NICs").
PCI = "pci"
DEFAULT_VDEV = "af_packet"
# Small pools: 8192 mbufs of 2176 bytes fit --no-huge's 256 MB (the default pool of
# 155,456 mbufs does not: "Creation of mbuf pool for socket 0 failed").
_MEMORY_MB = 256
_MBUFS = 8192
FCS = 4
# The af_packet vdev's socket ring, in 2 KiB frames (its default, 512, overflowed at
# once on the lab: testpmd counted 36,032 of 47,520 frames the veth delivered).
_AF_PACKET_FRAMES = 16384

# "\x1b[2J\x1b[1;1H" before every periodic block.
_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_COUNTER = re.compile(r"([A-Za-z]+-[a-z]+):\s+(\d+)")
# Lines after which forwarding runs: `start` answers "txonly packet forwarding - ports=1
# ...", --auto-start says "... start packet forwarding" first.
_STARTED = ("packet forwarding - ports=", "start packet forwarding")
_PROMPT = "testpmd> "
# Lines that mean testpmd will never forward, even where it does not exit (no port).
_FATAL = (
    "invalid core list",
    "ioctl failed",
    "no probed ethernet devices",
    "failed to initialize",
    "cause:",
    "fail to configure port",
    "invalid 'command line' arguments",
    "unrecognized option",
)
_BUSY = "xsk_configure(): failed to create xsk socket"


def strip_escapes(text: str) -> str:
    return _ESCAPE.sub("", text)


@dataclass(frozen=True)
class TestpmdOptions:
    interface: str
    role: str  # "send" | "receive"
    frame_size: int
    vdev: str = DEFAULT_VDEV
    # Forwarding cores; testpmd's main lcore is one more.
    workers: int = 1
    cores: str = ""
    dst_mac: str = ""
    # af_xdp: the first interface queue (worker w takes queue + w).
    queue: int = 0
    # Unique per run: testpmd's runtime directory /var/run/dpdk/<prefix>.
    file_prefix: str = "ringlab"
    # vdev "pci": the port's address (-a ADDR), and whether EAL maps hugepages (a PCI
    # port's DMA wants them; False runs it with --no-huge, as the virtual devices do).
    pci_address: str = ""
    hugepages: bool = True


def parse_cores(text: str) -> list[int]:
    """'2,3' or '2-5' or '0,2-3' -> CPUs; ValueError with the reason."""
    cpus: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, _, high = part.partition("-")
        first, last = int(low), int(high or low)
        if first < 0 or last < first:
            raise ValueError(f"{part!r} is not a CPU or a CPU range like 2-5")
        cpus.extend(range(first, last + 1))
    if len(set(cpus)) != len(cpus):
        raise ValueError(f"cores {text!r} lists a CPU twice")
    return cpus


def lcore_argument(workers: int, cores: str, available: list[int], role: str = "send") -> list[str]:
    """EAL core arguments: `-l` with the given cores, else workers + 1 of the CPUs this
    process may use; where there are fewer, the lcores share them (`--lcores 0-N@(cpus)`).

    Left to choose, a receiver takes the last CPUs with its main lcore (which mostly
    sleeps) on the last one, and a sender the first with its main lcore first: on a host
    with two CPUs running both ends (the built-in lab) their forwarding lcores, which poll
    without rest, then sit on different CPUs."""
    need = workers + 1
    if cores:
        listed = parse_cores(cores)
        if len(listed) < need:
            raise ValueError(
                f"cores {cores!r} has {len(listed)} CPU(s); testpmd needs {need}"
                f" (its main lcore and {workers} forwarding lcore(s))"
            )
        return ["-l", ",".join(str(c) for c in listed[:need])]
    if len(available) >= need and role == "receive":
        chosen = available[-need:]
        return ["-l", ",".join(str(c) for c in chosen), "--main-lcore", str(chosen[-1])]
    if len(available) >= need:
        return ["-l", ",".join(str(c) for c in available[:need])]
    cpus = ",".join(str(c) for c in available)
    return ["--lcores", f"(0-{workers})@({cpus})"]


def device_arguments(options: TestpmdOptions) -> list[str]:
    """EAL's memory and device arguments: a virtual device on the interface (no hugepages,
    no PCI scan), or one PCI port by address (`-a`: every other device is left alone)."""
    queues = str(options.workers)
    if options.vdev == PCI:
        if not options.pci_address:
            raise ValueError("testpmd_vdev pci needs the port's PCI address; none was given")
        memory = [] if options.hugepages else ["--no-huge", "-m", str(_MEMORY_MB)]
        return [
            *memory,
            "--no-shconf",
            "--file-prefix",
            options.file_prefix,
            "-a",
            options.pci_address,
        ]
    if options.vdev not in VDEVS:
        known = ", ".join([*VDEVS, PCI])
        raise ValueError(f"testpmd_vdev {options.vdev!r} is unknown; use {known}")
    if options.vdev == "af_xdp":
        device = (
            f"{VDEVS[options.vdev]},iface={options.interface},start_queue={options.queue},"
            f"queue_count={queues}"
        )
    else:
        device = (
            f"{VDEVS[options.vdev]},iface={options.interface},qpairs={queues},"
            f"framecnt={_AF_PACKET_FRAMES}"
        )
    return [
        "--no-huge",
        "--no-pci",
        "-m",
        str(_MEMORY_MB),
        "--no-shconf",
        "--file-prefix",
        options.file_prefix,
        "--vdev",
        device,
    ]


def command(options: TestpmdOptions, available_cpus: list[int]) -> list[str]:
    mode = "txonly" if options.role == "send" else "rxonly"
    queues = str(options.workers)
    argv = [
        BINARY,
        *lcore_argument(options.workers, options.cores, available_cpus, options.role),
        *device_arguments(options),
        "--",
        "-i",
        f"--forward-mode={mode}",
        f"--total-num-mbufs={_MBUFS}",
        f"--nb-cores={options.workers}",
        f"--rxq={queues}",
        f"--txq={queues}",
    ]
    if options.role == "send":
        # --txpkts is the buffer handed to the port: the frame without its FCS.
        argv.append(f"--txpkts={options.frame_size - FCS}")
        if options.dst_mac:
            argv.append(f"--eth-peer=0,{options.dst_mac}")
    return argv


@dataclass
class TestpmdCounters:
    """What testpmd's output has said so far, fed one line at a time."""

    role: str
    # The last periodic port statistics (cumulative since the port started).
    port: dict[str, int] = field(default_factory=dict)
    # The final "Accumulated forward statistics for all ports" (after SIGINT).
    final: dict[str, int] = field(default_factory=dict)
    readings: int = 0
    ready: bool = False
    started: bool = False
    fatal: str = ""
    busy: str = ""
    _section: str = ""

    def feed(self, raw: str) -> None:
        line = strip_escapes(raw).strip()
        while line.startswith(_PROMPT.strip()):
            line = line[len(_PROMPT.strip()) :].strip()
        lower = line.lower()
        if "nic statistics for port" in lower:
            self._section = "port"
            return
        if "accumulated forward statistics" in lower:
            self._section = "final"
            return
        if "forward statistics for port" in lower:
            self._section = "stream"
            return
        if line.startswith("####") or line.startswith("++++"):
            if self._section == "port":
                self.readings += 1  # a whole block of port statistics has been read
                self.ready = True
            self._section = ""
        if any(marker in lower for marker in _STARTED):
            self.started = self.ready = True
        if _BUSY in lower:
            self.busy = self.busy or line
        if not self.fatal and any(lower.startswith(m) or m in lower for m in _FATAL):
            self.fatal = line
        if self._section in ("port", "final"):
            target = self.port if self._section == "port" else self.final
            for name, value in _COUNTER.findall(line):
                target[name] = int(value)

    @property
    def live_packets(self) -> int:
        key = "TX-packets" if self.role == "send" else "RX-packets"
        return max(self.final.get(key, 0), self.port.get(key, 0))

    @property
    def live_bytes(self) -> int:
        return self.port.get("TX-bytes" if self.role == "send" else "RX-bytes", 0)

    def final_packets(self) -> int | None:
        """The final forward statistics' count; None when testpmd never printed them."""
        key = "TX-packets" if self.role == "send" else "RX-packets"
        return self.final.get(key)

    def final_bytes(self, packets: int, frame_size: int) -> int:
        """Bytes without FCS: exact for txonly (one size); for rxonly the port's last
        bytes-per-packet applied to the final count."""
        if self.role == "send":
            return packets * (frame_size - FCS)
        seen_packets, seen_bytes = self.port.get("RX-packets", 0), self.port.get("RX-bytes", 0)
        if seen_packets:
            return round(packets * seen_bytes / seen_packets)
        return 0

    def extra(self) -> dict[str, int]:
        """The tool's own side counters: drops, misses, errors, no-mbuf."""
        picked = {
            "RX-dropped": self.final.get("RX-dropped"),
            "TX-dropped": self.final.get("TX-dropped"),
            "RX-missed": self.port.get("RX-missed"),
            "RX-errors": self.port.get("RX-errors"),
            "TX-errors": self.port.get("TX-errors"),
            "RX-nombuf": self.port.get("RX-nombuf"),
        }
        return {
            "testpmd_" + name.lower().replace("-", "_"): value
            for name, value in picked.items()
            if value is not None
        }


def spec(options: TestpmdOptions, available_cpus: list[int]) -> ToolSpec:
    argv = command(options, available_cpus)
    return ToolSpec(
        tool=BINARY,
        package=PACKAGE,
        argv=argv,
        runtime_dir=f"/var/run/dpdk/{options.file_prefix}",
        poll_input="show port stats 0\n",
        start_input="start\n",
        stop_input="stop\nquit\n",
    )
