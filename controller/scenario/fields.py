"""Field types for the scenario schema: each parses the raw YAML value or explains the rule.

Every type is ``Annotated[T, PlainValidator(...)]`` so that pydantic never reports its
own generic wording (or a union's several branches) for these fields: the single error
is ours and already says what to write instead.
"""

from __future__ import annotations

import difflib
import re
import reprlib
from collections.abc import Callable
from typing import Annotated, Literal, TypeVar, get_args

from pydantic import PlainValidator
from pydantic_core import PydanticCustomError

from ringlab.controller.scenario import units
from ringlab.engines import (
    ENGINES,
    RX_ENGINES,
    XDP_ATTACH,
    XDP_MODES,
    Engine,
    RxEngine,
    XdpAttach,
    XdpMode,
)
from ringlab.ring_limits import (
    DEFAULT_RX_BLOCK_SIZE,
    DEFAULT_RX_BLOCKS,
    MAX_RX_BLOCK_SIZE,
    MAX_RX_BLOCKS,
)

T = TypeVar("T")
Mode = Literal["unidirectional", "bidirectional", "time-sliced"]
TestpmdVdev = Literal["af_packet", "af_xdp", "pci"]
TESTPMD_VDEVS: tuple[TestpmdVdev, ...] = get_args(TestpmdVdev)
SkbLayout = Literal["linear", "paged"]
MODES: tuple[Mode, ...] = get_args(Mode)
# The agent's bound (agent/validation.py MAX_XDP_QUEUE): xdp_queue + workers <= 1024.
MAX_XDP_QUEUE = 1023
SKB_LAYOUTS: tuple[SkbLayout, ...] = get_args(SkbLayout)

# Bounded so a value built from YAML aliases (exponentially large) prints in constant time.
_repr = reprlib.Repr()
_repr.maxlevel = 2
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlist = _repr.maxdict = _repr.maxtuple = 4


def show(value: object) -> str:
    """A short quotation of a user's value for an error message."""
    if value is None:
        return "nothing (null)"
    return _repr.repr(value)


class Invalid(ValueError):
    """A value breaks a field's rule; the text is the whole explanation."""


def checked(parse: Callable[[object], T]) -> PlainValidator:
    """Wrap a parser so its Invalid/UnitError text becomes the one pydantic error."""

    def validate(value: object) -> T:
        try:
            return parse(value)
        except (Invalid, units.UnitError) as error:
            raise PydanticCustomError("ringlab", "{text}", {"text": str(error)}) from None

    return PlainValidator(validate)


def closest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    """' Did you mean X?' for the nearest choice, or '' when nothing is close."""
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" Did you mean {match[0]!r}?" if match else ""


def _one_of(what: str, choices: tuple[str, ...]) -> Callable[[object], str]:
    def parse(value: object) -> str:
        if isinstance(value, str) and value in choices:
            return value
        near = closest(value, choices) if isinstance(value, str) else ""
        listed = ", ".join(choices)
        raise Invalid(f"{show(value)} is not {what}.{near} Use one of: {listed}.")

    return parse


def _integer(what: str, low: int, high: int, unit: str = "") -> Callable[[object], int]:
    suffix = f" {unit}" if unit else ""

    def parse(value: object) -> int:
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and re.fullmatch(r"[0-9]{1,12}", value.strip()):
            number = int(value.strip())
        if number is None:
            raise Invalid(f"{show(value)} is not a whole number. Use {what} {low}..{high}{suffix}.")
        if not low <= number <= high:
            raise Invalid(f"{number} is out of range. Use {what} {low}..{high}{suffix}.")
        return number

    return parse


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise Invalid(f"{show(value)} is not true or false. Write true or false.")


def _pattern(what: str, regex: str, rule: str, example: str) -> Callable[[object], str]:
    compiled = re.compile(regex)

    def parse(value: object) -> str:
        # Unquoted YAML numbers (name: 2024) are still meant as names.
        text = (
            str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        )
        if isinstance(text, str) and compiled.fullmatch(text):
            return text
        hint = ""
        if isinstance(value, bool):
            hint = " (YAML reads unquoted yes/no/on/off/true/false as true or false; quote it)"
        raise Invalid(f"{show(value)} is not a valid {what}{hint}: {rule}, like {example}.")

    return parse


def _version(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value == 1:
        return 1
    if isinstance(value, int) and not isinstance(value, bool):
        raise Invalid(
            f"scenario format version {value} is not supported; this ringlab reads version 1."
            " Write version: 1 (and use only the keys version 1 knows)."
        )
    raise Invalid(f"{show(value)} is not a version number. Write version: 1.")


Version = Annotated[int, checked(_version)]
Name = Annotated[
    str,
    checked(
        _pattern(
            "scenario name",
            r"[A-Za-z0-9._-]{1,64}",
            "1-64 letters, digits, '.', '_' or '-'",
            "a-to-b",
        )
    ),
]
HostName = Annotated[
    str,
    checked(
        _pattern(
            "host name",
            r"[a-z][a-z0-9-]{0,11}",
            "a lowercase letter, then up to 11 lowercase letters, digits or '-'",
            "a, b or host-1",
        )
    ),
]
InterfaceName = Annotated[
    str,
    checked(
        _pattern(
            "interface name",
            r"(?!\.\.?$)[^\s/:]{1,15}",
            "1-15 characters without spaces, '/' or ':' (a Linux interface name)",
            "eth1 or enp3s0f1",
        )
    ),
]
FlowName = Annotated[
    str,
    checked(
        _pattern(
            "flow name",
            r"[^\s/]{1,64}",
            "1-64 characters without spaces or '/'",
            "a->b or bulk-1",
        )
    ),
]
ModeName = Annotated[Mode, checked(_one_of("a mode", MODES))]
EngineName = Annotated[Engine, checked(_one_of("an engine", ENGINES))]
RxEngineName = Annotated[RxEngine, checked(_one_of("a receive engine", RX_ENGINES))]
XdpModeName = Annotated[XdpMode, checked(_one_of("an AF_XDP bind mode", XDP_MODES))]
XdpAttachName = Annotated[
    XdpAttach, checked(_one_of("a way to attach the XDP program", XDP_ATTACH))
]
XdpQueue = Annotated[int, checked(_integer("xdp_queue", 0, MAX_XDP_QUEUE))]
SkbLayoutName = Annotated[SkbLayout, checked(_one_of("an skb layout", SKB_LAYOUTS))]
Bool = Annotated[bool, checked(_boolean)]
TestpmdVdevName = Annotated[
    TestpmdVdev, checked(_one_of("a testpmd virtual device", TESTPMD_VDEVS))
]
CoreList = Annotated[
    str,
    checked(
        _pattern(
            "CPU list",
            r"[0-9]{1,4}(-[0-9]{1,4})?(,[0-9]{1,4}(-[0-9]{1,4})?){0,63}",
            "CPU numbers and ranges separated by commas",
            "'2,3' or '2-5'",
        )
    ),
]
# A PCI function as sysfs names it, domain:bus:device.function (0000:3b:00.0).
PciAddress = Annotated[
    str,
    checked(
        _pattern(
            "PCI address",
            r"[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-1][0-9a-fA-F]\.[0-7]",
            "domain:bus:device.function in hex, as lspci -D prints it",
            "'0000:3b:00.0'",
        )
    ),
]
ClusterId = Annotated[int, checked(_integer("pfring_cluster_id", 1, 65535))]
FrameSize = Annotated[int, checked(_integer("frame_size", 64, 9216, "bytes"))]
Workers = Annotated[int, checked(_integer("workers", 1, 16))]
Batch = Annotated[int, checked(_integer("batch (0 = auto)", 0, 4096, "frames"))]
RingFrames = Annotated[int, checked(_integer("ring_frames (0 = auto)", 0, 1 << 20, "frames"))]
Rounds = Annotated[int, checked(_integer("rounds", 1, 1000))]
# The usual page size; the agent checks against its own (64 KiB on some arm64 hosts).
RX_BLOCK_ALIGN = 4096


def _rx_block_size(value: object) -> int:
    size = units.parse_size(value)
    rule = (
        f"Use 0 (auto: {units.format_size(DEFAULT_RX_BLOCK_SIZE)}) or a multiple of 4KiB from 4KiB to"
        f" {units.format_size(MAX_RX_BLOCK_SIZE)}, like 256KiB or 4MiB."
    )
    if size and (size % RX_BLOCK_ALIGN or size > MAX_RX_BLOCK_SIZE):
        raise Invalid(f"{show(value)} ({size} bytes) is not a receive block size. {rule}")
    return size


RxBlockSize = Annotated[int, checked(_rx_block_size)]
_rx_block_count = _integer(f"rx_blocks (0 = auto: {DEFAULT_RX_BLOCKS})", 0, MAX_RX_BLOCKS, "blocks")


def _rx_blocks(value: object) -> int:
    count = _rx_block_count(value)
    if count == 1:
        # One block is all-or-nothing: while the receiver reads it the kernel drops.
        raise Invalid(
            "1 block leaves the kernel nowhere to write while the receiver reads it."
            f" Use 0 (auto: {DEFAULT_RX_BLOCKS}) or 2..{MAX_RX_BLOCKS} blocks."
        )
    return count


RxBlocks = Annotated[int, checked(_rx_blocks)]
DurationNs = Annotated[int, checked(units.parse_duration_ns)]
DurationOrZeroNs = Annotated[
    int, checked(lambda value: units.parse_duration_ns(value, allow_zero=True))
]
RateValue = Annotated[units.Rate, checked(units.parse_rate)]
Fraction = Annotated[float, checked(units.parse_fraction)]
Count = Annotated[float, checked(units.parse_count)]
