"""PF_RING's example tools as an engine: command lines, counter parsers, open errors.

Pure functions only (no processes): agent.external's process engine runs what these
build and feeds them what the tools print. Everything here follows ntop/PF_RING
userland/examples/pfsend.c and pfcount.c and userland/examples_zc/zsend.c and zcount.c
(commit dc0ae0d684b3ce0ed34d3412b5091ec1247c8c90, 2024-10-17); the fixtures under
tests/fixtures/pfring/ cite the lines.

What the tools count, so that nobody reads more into the figures than is there:

- packets: what the tool sent (pfsend counts only pfring_send() calls that succeeded) or
  handed to the application (pfcount's "pkts rcvd", zcount's "pkts").
- line bytes: every tool adds 24 bytes to each packet's length (8 preamble + 4 FCS + 12
  inter-frame gap, pfcount.c line 640, zsend.c line 474, zcount.c line 260); they are
  bytes on the wire, not frame bytes. pfsend prints none.
- drops: pfcount and zcount print the ring's drop counter (packets the ring had no room
  for); pfsend and zsend print none.
- a figure the tool does not print is None, never 0.

The tools print numbers with pfring_format_numbers() (userland/lib/pfring_utils.c line
810): apostrophes between thousands ("1'234'567"), two decimals on rates and on pfsend's
total ("19'604'725.00"). Above 10**12 it drops the leading digits (the billions group is
taken modulo 1000), so counts that large cannot be read back; at 14.88 Mpps that takes
18 hours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

Role = Literal["send", "receive"]
Tool = Literal["pfsend", "pfcount", "zsend", "zcount"]
TOOLS: tuple[Tool, ...] = ("pfsend", "pfcount", "zsend", "zcount")

ZC_PREFIX = "zc:"
# The tools read -n/-N/-l/-g/-c with atoi() into an int.
_INT_MAX = 2**31 - 1
# ringlab's frame_size counts the 4-byte FCS; the tools' -l is the packet without it
# (pfsend's default 60 is a 64-byte frame; zsend prints "send_len + 4 /*CRC*/").
FCS_BYTES = 4
# pfsend caps -l at MAX_PACKET_SIZE (pfutils.c line 55) without a word; refuse instead.
MAX_PACKET_BYTES = 65535
# strerror(EBUSY): one process owns a ZC interface (or queue) at a time.
BUSY_REASON = "Device or resource busy"


def is_zc_device(device: str) -> bool:
    """`zc:eth1` (a ZC driver's interface) or `zc:99@0` (a ZC cluster queue)."""
    return device.startswith(ZC_PREFIX)


def tool_for(role: Role, device: str) -> Tool:
    """pfsend/pfcount for standard interfaces, zsend/zcount for ZC devices."""
    if is_zc_device(device):
        return "zsend" if role == "send" else "zcount"
    return "pfsend" if role == "send" else "pfcount"


def _count_arg(name: str, value: int, low: int = 0) -> str:
    if not low <= value <= _INT_MAX:
        raise ValueError(f"{name} must be in {low}..{_INT_MAX} (the tools read it as an int)")
    return str(value)


def _decimal(value: float) -> str:
    """A rate as the tools' sscanf("%lf") reads it, without exponent notation."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def send_command(
    device: str,
    frame_size: int,
    *,
    rate_pps: float | None = None,
    rate_gbps: float | None = None,
    count: int | None = None,
    core: int | None = None,
    cluster_id: int | None = None,
    executable: str | None = None,
) -> list[str]:
    """pfsend (or zsend for `zc:` devices): `frame_size` counts the FCS, as in ringlab.

    No rate means as fast as the tool can (neither -p nor -r); `rate_gbps` is line rate
    (the tools count 24 bytes of preamble, FCS and gap per packet). `count` None sends
    until stopped (-n 0). ZC tools need a `cluster_id` (-c); pfsend takes none (its -c
    reforges destination IPs).
    """
    tool = tool_for("send", device)
    if not 64 <= frame_size <= MAX_PACKET_BYTES + FCS_BYTES:
        raise ValueError(
            f"frame_size must be in 64..{MAX_PACKET_BYTES + FCS_BYTES}, got {frame_size}"
        )
    if rate_pps is not None and rate_gbps is not None:
        raise ValueError("give rate_pps or rate_gbps, not both")
    args = [executable or tool, "-i", device, "-l", str(frame_size - FCS_BYTES)]
    if rate_pps is not None:
        if rate_pps <= 0:
            raise ValueError(f"rate_pps must be > 0, got {rate_pps}")
        if tool == "zsend":
            # zsend reads -p with atoi(): a fraction would be cut off without a word.
            if rate_pps != int(rate_pps) or rate_pps > _INT_MAX:
                raise ValueError(f"zsend takes whole packets per second, got {rate_pps}")
            args += ["-p", str(int(rate_pps))]
        else:
            args += ["-p", _decimal(rate_pps)]
    if rate_gbps is not None:
        if rate_gbps <= 0:
            raise ValueError(f"rate_gbps must be > 0, got {rate_gbps}")
        args += ["-r", _decimal(rate_gbps)]
    args += ["-n", _count_arg("count", count, low=1) if count is not None else "0"]
    return args + _core_and_cluster(tool, core, cluster_id)


def receive_command(
    device: str,
    *,
    count: int | None = None,
    core: int | None = None,
    cluster_id: int | None = None,
    executable: str | None = None,
) -> list[str]:
    """pfcount (or zcount for `zc:` devices), counting received packets only.

    pfcount captures RX and TX by default; -e 1 keeps the receiver's own transmissions
    out of its count. `count` stops pfcount after that many packets (-N); zcount has no
    such option, so a count for it is refused. For pfcount `cluster_id` is a kernel
    cluster (-c), for zcount the ZC cluster it creates (required).
    """
    tool = tool_for("receive", device)
    args = [executable or tool, "-i", device]
    if tool == "pfcount":
        args += ["-e", "1"]
        if count is not None:
            args += ["-N", _count_arg("count", count, low=1)]
    elif count is not None:
        raise ValueError("zcount has no packet count option; stop it instead")
    return args + _core_and_cluster(tool, core, cluster_id)


def _core_and_cluster(tool: Tool, core: int | None, cluster_id: int | None) -> list[str]:
    args: list[str] = []
    if core is not None:
        args += ["-g", _count_arg("core", core)]
    if tool in ("zsend", "zcount"):
        if cluster_id is None:
            raise ValueError(f"{tool} needs a cluster_id (-c) for its ZC cluster")
        args += ["-c", _count_arg("cluster_id", cluster_id)]
    elif cluster_id is not None:
        if tool == "pfsend":
            raise ValueError("pfsend takes no cluster id (its -c reforges destination IPs)")
        args += ["-c", _count_arg("cluster_id", cluster_id)]
    return args


# ---- numbers -------------------------------------------------------------------------

_NUMBER = r"[0-9][0-9']*(?:\.[0-9]+)?"
_WELL_FORMED = re.compile(r"^[0-9]{1,3}(?:'[0-9]{3})*(?:\.[0-9]+)?$")


def parse_number(text: str) -> float | None:
    """pfring_format_numbers() output ("1'234'567", "0.00", "2'764.36") or None."""
    text = text.strip()
    if not _WELL_FORMED.match(text):
        return None
    return float(text.replace("'", ""))


def parse_count(text: str) -> int | None:
    """A count: pfsend prints its total with ".00"; anything but whole numbers is None."""
    value = parse_number(text)
    if value is None or value != int(value):
        return None
    return int(value)


# ---- counters ------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolCounters:
    """One statistics report of a tool (they print one a second, and one on exit).

    None: the tool does not print that figure (or printed it unreadably), not zero.
    `final` marks the report printed after "Leaving..." (SIGINT) or pfsend's closing
    "Sent N packets": the tool's last word.
    """

    tool: Tool
    packets: int | None = None
    line_bytes: int | None = None
    drops: int | None = None
    # The rate over the last interval ("Actual Stats", pfsend's "current"); None in the
    # first report, which has no previous one.
    current_pps: float | None = None
    final: bool = False


_SEPARATOR = re.compile(r"^=+$")
_LEAVING = "Leaving..."
_PFSEND_RATE = re.compile(
    rf"TX rate: \[current (?P<pps>{_NUMBER}) pps/{_NUMBER} Gbps\]"
    rf"\[average {_NUMBER} pps/{_NUMBER} Gbps\]\[total (?P<total>{_NUMBER}) pkts\]"
)
_PFSEND_SENT = re.compile(r"^Sent (?P<sent>[0-9]+) packets$")
_PFCOUNT_ABSOLUTE = re.compile(
    rf"^Absolute Stats: \[(?P<total>{_NUMBER}) pkts total\]\[(?P<drops>{_NUMBER}) pkts dropped\]"
)
_PFCOUNT_RECEIVED = re.compile(
    rf"^\[(?P<packets>{_NUMBER}) (?:pkts|chunks) rcvd\]\[(?P<bytes>{_NUMBER}) bytes rcvd\]"
)
_PFCOUNT_ACTUAL = re.compile(
    rf"^Actual Stats: \[{_NUMBER} pkts rcvd\]\[{_NUMBER} ms\]\[(?P<pps>{_NUMBER}) pps\]"
)
_ZSEND_ABSOLUTE = re.compile(
    rf"^Absolute Stats: (?P<packets>{_NUMBER}) pkts - (?P<bytes>{_NUMBER}) bytes$"
)
_ZCOUNT_ABSOLUTE = re.compile(
    rf"^Absolute Stats: (?P<packets>{_NUMBER}) pkts \((?P<drops>{_NUMBER}) drops\) - "
    rf"(?P<bytes>{_NUMBER}) bytes$"
)
_Z_ACTUAL = re.compile(rf"^Actual Stats: (?P<pps>{_NUMBER}) pps ")


class StatsReader:
    """Reads a tool's output line by line; `feed` returns each report once it is complete.

    pfsend reports in one line on stdout. pfcount, zsend and zcount print blocks on
    stderr, between lines of '=' and ending with an empty line; a block is complete at
    that empty line, at the next block's first line, or at `finish` (output cut short).
    Lines that match nothing are skipped: the tools also print banners, warnings and,
    with -v, packets.
    """

    def __init__(self, tool: Tool) -> None:
        self.tool: Tool = tool
        self._pending: ToolCounters | None = None
        self._leaving = False

    def feed(self, line: str) -> ToolCounters | None:
        line = line.strip()
        # A terminal echoes Ctrl-C before it: "^CLeaving..." in outputs pasted in issues.
        if line.endswith(_LEAVING):
            # A block still open was printed before the signal: not the final word.
            done = self._take()
            self._leaving = True
            return done
        if self.tool == "pfsend":
            return self._pfsend(line)
        if not line:
            return self._take()
        if _SEPARATOR.match(line):
            return None
        if line.startswith("Absolute Stats:"):
            # A new block: the previous one is complete even if its empty line was lost.
            done = self._take()
            self._pending = self._absolute(line)
            return done
        self._block_line(line)
        return None

    def finish(self) -> ToolCounters | None:
        """The report the output ended in, if it was not complete yet."""
        return self._take()

    def _take(self) -> ToolCounters | None:
        done, self._pending = self._pending, None
        if done is not None and self._leaving:
            done = replace(done, final=True)
        return done

    def _pfsend(self, line: str) -> ToolCounters | None:
        sent = _PFSEND_SENT.match(line)
        if sent:
            return ToolCounters("pfsend", packets=int(sent["sent"]), final=True)
        rate = _PFSEND_RATE.search(line)
        if rate is None:
            return None
        return ToolCounters(
            "pfsend",
            packets=parse_count(rate["total"]),
            current_pps=parse_number(rate["pps"]),
            final=self._leaving,
        )

    def _block_line(self, line: str) -> None:
        if self._pending is None:
            return
        received = _PFCOUNT_RECEIVED.match(line) if self.tool == "pfcount" else None
        if received:
            self._pending = replace(
                self._pending,
                packets=parse_count(received["packets"]),
                line_bytes=parse_count(received["bytes"]),
            )
            return
        actual = (_PFCOUNT_ACTUAL if self.tool == "pfcount" else _Z_ACTUAL).match(line)
        if actual:
            self._pending = replace(self._pending, current_pps=parse_number(actual["pps"]))

    def _absolute(self, line: str) -> ToolCounters:
        """The Absolute Stats line; a line that does not read leaves every figure None."""
        if self.tool == "pfcount":
            # "[T pkts total][D pkts dropped]": received packets and bytes follow on
            # the next line ("[R pkts rcvd][B bytes rcvd]"); T is R + D.
            m = _PFCOUNT_ABSOLUTE.match(line)
            return ToolCounters("pfcount", drops=parse_count(m["drops"]) if m else None)
        if self.tool == "zsend":
            m = _ZSEND_ABSOLUTE.match(line)
            if m is None:
                return ToolCounters("zsend")
            return ToolCounters(
                "zsend", packets=parse_count(m["packets"]), line_bytes=parse_count(m["bytes"])
            )
        m = _ZCOUNT_ABSOLUTE.match(line)
        if m is None:
            return ToolCounters("zcount")
        return ToolCounters(
            "zcount",
            packets=parse_count(m["packets"]),
            drops=parse_count(m["drops"]),
            line_bytes=parse_count(m["bytes"]),
        )


def parse_output(tool: Tool, text: str) -> list[ToolCounters]:
    """Every report in a whole output, in order (the last is the tool's final word)."""
    reader = StatsReader(tool)
    reports = [r for r in map(reader.feed, text.splitlines()) if r is not None]
    last = reader.finish()
    return reports + ([last] if last is not None else [])


# ---- open errors ---------------------------------------------------------------------


@dataclass(frozen=True)
class OpenError:
    """A tool could not open its device (or ZC cluster): the line it printed, read back.

    `busy` is EBUSY (another process owns the ZC interface or queue): the same finding as
    AF_XDP's EBUSY. `device` is what the tool was given ("zc:eth1", "zc:99@0", "eth1"),
    `interface` the kernel interface in it (None for a cluster queue or no device).
    """

    call: str
    reason: str
    device: str | None
    message: str

    @property
    def busy(self) -> bool:
        return self.reason == BUSY_REASON

    @property
    def interface(self) -> str | None:
        if self.device is None:
            return None
        name = self.device.removeprefix(ZC_PREFIX)
        if re.fullmatch(r"[0-9]+(?:@[0-9]+)?", name):
            return None  # zc:CLUSTER[@QUEUE]: a ZC cluster's queue(s), not an interface
        return name.split("@", 1)[0] or None


_OPEN_ERRORS = (
    # zsend.c line 643, zcount.c line 385
    re.compile(
        r"(?P<call>pfring_zc_open_device) error \[(?P<reason>[^\]]*)\] "
        r"Please check that (?P<device>\S+) is up and not already used"
    ),
    # pfsend.c line 354, pfcount.c line 1324
    re.compile(
        r"(?P<call>pfring_open) error \[(?P<reason>[^\]]*)\] "
        r"\(pf_ring not loaded or interface (?P<device>\S+) is down \?\)"
    ),
    # ntop's own applications name the device in the call (PF_RING issue #184).
    re.compile(
        r"(?P<call>pfring_zc_open_device)\((?P<device>[^,)\s]+)(?:, \w+)?\) error "
        r"\[(?P<reason>[^\]]*)\]"
    ),
    # zsend.c line 625, zcount.c line 371: no device named; hugepages or the module.
    re.compile(r"(?P<call>pfring_zc_create_cluster) error \[(?P<reason>[^\]]*)\]"),
    # zsend.c line 691: attaching to another process's cluster queue.
    re.compile(r"(?P<call>pfring_zc_ipc_attach_queue) error \[(?P<reason>[^\]]*)\]"),
)
# pfsend.c line 952 (and pfcount): the ring opened but would not start; no errno printed.
_ENABLE_FAILED = "Unable to enable ring :-("


def find_open_error(text: str) -> OpenError | None:
    """The first open failure in a tool's output (stdout and stderr), or None."""
    for line in text.splitlines():
        line = line.strip()
        for pattern in _OPEN_ERRORS:
            m = pattern.search(line)
            if m:
                return OpenError(
                    call=m["call"],
                    reason=m["reason"],
                    device=m.groupdict().get("device"),
                    message=line,
                )
        if line == _ENABLE_FAILED:
            return OpenError(call="pfring_enable_ring", reason="", device=None, message=line)
    return None
