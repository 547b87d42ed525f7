from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_SEND: _ClassVar[Role]
    ROLE_RECEIVE: _ClassVar[Role]

class Engine(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENGINE_UNSPECIFIED: _ClassVar[Engine]
    ENGINE_RING: _ClassVar[Engine]
    ENGINE_SENDTO: _ClassVar[Engine]
    ENGINE_XDP: _ClassVar[Engine]
    ENGINE_TESTPMD: _ClassVar[Engine]
    ENGINE_PFRING: _ClassVar[Engine]

class SessionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SESSION_STATE_UNSPECIFIED: _ClassVar[SessionState]
    SESSION_STATE_PREPARED: _ClassVar[SessionState]
    SESSION_STATE_SCHEDULED: _ClassVar[SessionState]
    SESSION_STATE_RUNNING: _ClassVar[SessionState]
    SESSION_STATE_FINISHED: _ClassVar[SessionState]
    SESSION_STATE_STOPPED: _ClassVar[SessionState]
    SESSION_STATE_FAILED: _ClassVar[SessionState]
    SESSION_STATE_EXPIRED: _ClassVar[SessionState]
ROLE_UNSPECIFIED: Role
ROLE_SEND: Role
ROLE_RECEIVE: Role
ENGINE_UNSPECIFIED: Engine
ENGINE_RING: Engine
ENGINE_SENDTO: Engine
ENGINE_XDP: Engine
ENGINE_TESTPMD: Engine
ENGINE_PFRING: Engine
SESSION_STATE_UNSPECIFIED: SessionState
SESSION_STATE_PREPARED: SessionState
SESSION_STATE_SCHEDULED: SessionState
SESSION_STATE_RUNNING: SessionState
SESSION_STATE_FINISHED: SessionState
SESSION_STATE_STOPPED: SessionState
SESSION_STATE_FAILED: SessionState
SESSION_STATE_EXPIRED: SessionState

class InterfaceInfo(_message.Message):
    __slots__ = ("name", "mac", "mtu", "driver", "oper_state", "ifindex")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MAC_FIELD_NUMBER: _ClassVar[int]
    MTU_FIELD_NUMBER: _ClassVar[int]
    DRIVER_FIELD_NUMBER: _ClassVar[int]
    OPER_STATE_FIELD_NUMBER: _ClassVar[int]
    IFINDEX_FIELD_NUMBER: _ClassVar[int]
    name: str
    mac: str
    mtu: int
    driver: str
    oper_state: str
    ifindex: int
    def __init__(self, name: _Optional[str] = ..., mac: _Optional[str] = ..., mtu: _Optional[int] = ..., driver: _Optional[str] = ..., oper_state: _Optional[str] = ..., ifindex: _Optional[int] = ...) -> None: ...

class GetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetInfoResponse(_message.Message):
    __slots__ = ("agent_version", "api_version", "hostname", "kernel", "interfaces", "capabilities", "wall_ns", "holder", "waiting", "agent_id")
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    KERNEL_FIELD_NUMBER: _ClassVar[int]
    INTERFACES_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    WALL_NS_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    agent_version: str
    api_version: int
    hostname: str
    kernel: str
    interfaces: _containers.RepeatedCompositeFieldContainer[InterfaceInfo]
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    wall_ns: int
    holder: SessionHolder
    waiting: _containers.RepeatedCompositeFieldContainer[SessionHolder]
    agent_id: str
    def __init__(self, agent_version: _Optional[str] = ..., api_version: _Optional[int] = ..., hostname: _Optional[str] = ..., kernel: _Optional[str] = ..., interfaces: _Optional[_Iterable[_Union[InterfaceInfo, _Mapping]]] = ..., capabilities: _Optional[_Iterable[str]] = ..., wall_ns: _Optional[int] = ..., holder: _Optional[_Union[SessionHolder, _Mapping]] = ..., waiting: _Optional[_Iterable[_Union[SessionHolder, _Mapping]]] = ..., agent_id: _Optional[str] = ...) -> None: ...

class SessionHolder(_message.Message):
    __slots__ = ("run_id", "scenario", "controller_host", "controller_user", "since_wall_ns", "session_id")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    CONTROLLER_HOST_FIELD_NUMBER: _ClassVar[int]
    CONTROLLER_USER_FIELD_NUMBER: _ClassVar[int]
    SINCE_WALL_NS_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    scenario: str
    controller_host: str
    controller_user: str
    since_wall_ns: int
    session_id: str
    def __init__(self, run_id: _Optional[str] = ..., scenario: _Optional[str] = ..., controller_host: _Optional[str] = ..., controller_user: _Optional[str] = ..., since_wall_ns: _Optional[int] = ..., session_id: _Optional[str] = ...) -> None: ...

class SyncClockRequest(_message.Message):
    __slots__ = ("controller_send_wall_ns",)
    CONTROLLER_SEND_WALL_NS_FIELD_NUMBER: _ClassVar[int]
    controller_send_wall_ns: int
    def __init__(self, controller_send_wall_ns: _Optional[int] = ...) -> None: ...

class SyncClockResponse(_message.Message):
    __slots__ = ("controller_send_wall_ns", "agent_receive_wall_ns", "agent_send_wall_ns")
    CONTROLLER_SEND_WALL_NS_FIELD_NUMBER: _ClassVar[int]
    AGENT_RECEIVE_WALL_NS_FIELD_NUMBER: _ClassVar[int]
    AGENT_SEND_WALL_NS_FIELD_NUMBER: _ClassVar[int]
    controller_send_wall_ns: int
    agent_receive_wall_ns: int
    agent_send_wall_ns: int
    def __init__(self, controller_send_wall_ns: _Optional[int] = ..., agent_receive_wall_ns: _Optional[int] = ..., agent_send_wall_ns: _Optional[int] = ...) -> None: ...

class ProbeRequest(_message.Message):
    __slots__ = ("interfaces", "management_addresses", "reload_impact_module")
    INTERFACES_FIELD_NUMBER: _ClassVar[int]
    MANAGEMENT_ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    RELOAD_IMPACT_MODULE_FIELD_NUMBER: _ClassVar[int]
    interfaces: _containers.RepeatedScalarFieldContainer[str]
    management_addresses: _containers.RepeatedScalarFieldContainer[str]
    reload_impact_module: str
    def __init__(self, interfaces: _Optional[_Iterable[str]] = ..., management_addresses: _Optional[_Iterable[str]] = ..., reload_impact_module: _Optional[str] = ...) -> None: ...

class ProbeResponse(_message.Message):
    __slots__ = ("report_json", "schema_version")
    REPORT_JSON_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    report_json: str
    schema_version: int
    def __init__(self, report_json: _Optional[str] = ..., schema_version: _Optional[int] = ...) -> None: ...

class FlowSpec(_message.Message):
    __slots__ = ("flow_id", "name", "role", "interface", "src_mac", "dst_mac", "frame_size", "rate_pps", "engine", "workers", "static_template", "qdisc_bypass", "ring_frames", "batch", "paged_skb", "rx_block_size", "rx_blocks", "allow_management_interface", "rx_engine", "xdp_queue", "xdp_mode", "xdp_attach", "xdp_share", "xdp_frames", "tool_device", "cores", "pfring_cluster_id", "peer_engine", "pci_address")
    FLOW_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    INTERFACE_FIELD_NUMBER: _ClassVar[int]
    SRC_MAC_FIELD_NUMBER: _ClassVar[int]
    DST_MAC_FIELD_NUMBER: _ClassVar[int]
    FRAME_SIZE_FIELD_NUMBER: _ClassVar[int]
    RATE_PPS_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    STATIC_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    QDISC_BYPASS_FIELD_NUMBER: _ClassVar[int]
    RING_FRAMES_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    PAGED_SKB_FIELD_NUMBER: _ClassVar[int]
    RX_BLOCK_SIZE_FIELD_NUMBER: _ClassVar[int]
    RX_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    ALLOW_MANAGEMENT_INTERFACE_FIELD_NUMBER: _ClassVar[int]
    RX_ENGINE_FIELD_NUMBER: _ClassVar[int]
    XDP_QUEUE_FIELD_NUMBER: _ClassVar[int]
    XDP_MODE_FIELD_NUMBER: _ClassVar[int]
    XDP_ATTACH_FIELD_NUMBER: _ClassVar[int]
    XDP_SHARE_FIELD_NUMBER: _ClassVar[int]
    XDP_FRAMES_FIELD_NUMBER: _ClassVar[int]
    TOOL_DEVICE_FIELD_NUMBER: _ClassVar[int]
    CORES_FIELD_NUMBER: _ClassVar[int]
    PFRING_CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    PEER_ENGINE_FIELD_NUMBER: _ClassVar[int]
    PCI_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    flow_id: int
    name: str
    role: Role
    interface: str
    src_mac: str
    dst_mac: str
    frame_size: int
    rate_pps: float
    engine: Engine
    workers: int
    static_template: bool
    qdisc_bypass: bool
    ring_frames: int
    batch: int
    paged_skb: bool
    rx_block_size: int
    rx_blocks: int
    allow_management_interface: bool
    rx_engine: Engine
    xdp_queue: int
    xdp_mode: str
    xdp_attach: str
    xdp_share: bool
    xdp_frames: int
    tool_device: str
    cores: str
    pfring_cluster_id: int
    peer_engine: Engine
    pci_address: str
    def __init__(self, flow_id: _Optional[int] = ..., name: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., interface: _Optional[str] = ..., src_mac: _Optional[str] = ..., dst_mac: _Optional[str] = ..., frame_size: _Optional[int] = ..., rate_pps: _Optional[float] = ..., engine: _Optional[_Union[Engine, str]] = ..., workers: _Optional[int] = ..., static_template: _Optional[bool] = ..., qdisc_bypass: _Optional[bool] = ..., ring_frames: _Optional[int] = ..., batch: _Optional[int] = ..., paged_skb: _Optional[bool] = ..., rx_block_size: _Optional[int] = ..., rx_blocks: _Optional[int] = ..., allow_management_interface: _Optional[bool] = ..., rx_engine: _Optional[_Union[Engine, str]] = ..., xdp_queue: _Optional[int] = ..., xdp_mode: _Optional[str] = ..., xdp_attach: _Optional[str] = ..., xdp_share: _Optional[bool] = ..., xdp_frames: _Optional[int] = ..., tool_device: _Optional[str] = ..., cores: _Optional[str] = ..., pfring_cluster_id: _Optional[int] = ..., peer_engine: _Optional[_Union[Engine, str]] = ..., pci_address: _Optional[str] = ...) -> None: ...

class PrepareRequest(_message.Message):
    __slots__ = ("session_id", "flows", "lease_ms", "management_addresses", "holder")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    FLOWS_FIELD_NUMBER: _ClassVar[int]
    LEASE_MS_FIELD_NUMBER: _ClassVar[int]
    MANAGEMENT_ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    flows: _containers.RepeatedCompositeFieldContainer[FlowSpec]
    lease_ms: int
    management_addresses: _containers.RepeatedScalarFieldContainer[str]
    holder: SessionHolder
    def __init__(self, session_id: _Optional[str] = ..., flows: _Optional[_Iterable[_Union[FlowSpec, _Mapping]]] = ..., lease_ms: _Optional[int] = ..., management_addresses: _Optional[_Iterable[str]] = ..., holder: _Optional[_Union[SessionHolder, _Mapping]] = ...) -> None: ...

class PrepareResponse(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class StartRequest(_message.Message):
    __slots__ = ("session_id", "start_at_wall_ns", "duration_ns", "drain_ns")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    START_AT_WALL_NS_FIELD_NUMBER: _ClassVar[int]
    DURATION_NS_FIELD_NUMBER: _ClassVar[int]
    DRAIN_NS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    start_at_wall_ns: int
    duration_ns: int
    drain_ns: int
    def __init__(self, session_id: _Optional[str] = ..., start_at_wall_ns: _Optional[int] = ..., duration_ns: _Optional[int] = ..., drain_ns: _Optional[int] = ...) -> None: ...

class StartResponse(_message.Message):
    __slots__ = ("scheduled_in_ns",)
    SCHEDULED_IN_NS_FIELD_NUMBER: _ClassVar[int]
    scheduled_in_ns: int
    def __init__(self, scheduled_in_ns: _Optional[int] = ...) -> None: ...

class StopRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class StopResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RenewLeaseRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class RenewLeaseResponse(_message.Message):
    __slots__ = ("lease_ms",)
    LEASE_MS_FIELD_NUMBER: _ClassVar[int]
    lease_ms: int
    def __init__(self, lease_ms: _Optional[int] = ...) -> None: ...

class InterfaceCounters(_message.Message):
    __slots__ = ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_dropped", "tx_dropped", "rx_errors", "tx_errors")
    RX_PACKETS_FIELD_NUMBER: _ClassVar[int]
    TX_PACKETS_FIELD_NUMBER: _ClassVar[int]
    RX_BYTES_FIELD_NUMBER: _ClassVar[int]
    TX_BYTES_FIELD_NUMBER: _ClassVar[int]
    RX_DROPPED_FIELD_NUMBER: _ClassVar[int]
    TX_DROPPED_FIELD_NUMBER: _ClassVar[int]
    RX_ERRORS_FIELD_NUMBER: _ClassVar[int]
    TX_ERRORS_FIELD_NUMBER: _ClassVar[int]
    rx_packets: int
    tx_packets: int
    rx_bytes: int
    tx_bytes: int
    rx_dropped: int
    tx_dropped: int
    rx_errors: int
    tx_errors: int
    def __init__(self, rx_packets: _Optional[int] = ..., tx_packets: _Optional[int] = ..., rx_bytes: _Optional[int] = ..., tx_bytes: _Optional[int] = ..., rx_dropped: _Optional[int] = ..., tx_dropped: _Optional[int] = ..., rx_errors: _Optional[int] = ..., tx_errors: _Optional[int] = ...) -> None: ...

class LatencySummary(_message.Message):
    __slots__ = ("samples", "min_us", "p50_us", "p99_us", "max_us", "mean_us")
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    MIN_US_FIELD_NUMBER: _ClassVar[int]
    P50_US_FIELD_NUMBER: _ClassVar[int]
    P99_US_FIELD_NUMBER: _ClassVar[int]
    MAX_US_FIELD_NUMBER: _ClassVar[int]
    MEAN_US_FIELD_NUMBER: _ClassVar[int]
    samples: int
    min_us: float
    p50_us: float
    p99_us: float
    max_us: float
    mean_us: float
    def __init__(self, samples: _Optional[int] = ..., min_us: _Optional[float] = ..., p50_us: _Optional[float] = ..., p99_us: _Optional[float] = ..., max_us: _Optional[float] = ..., mean_us: _Optional[float] = ...) -> None: ...

class FlowResult(_message.Message):
    __slots__ = ("flow_id", "name", "role", "interface", "packets", "bytes", "unique_packets", "duplicates", "reordered", "foreign_frames", "suspect_frames", "kernel_packets", "kernel_drops", "kernel_freezes", "expected_packets", "send_errors", "user_cpu_s", "system_cpu_s", "first_wall_ns", "last_wall_ns", "pps", "bps", "latency", "interface_before", "interface_after", "actual_start_wall_ns", "error", "extra", "info", "xdp_queue_busy", "count_source", "tool_command", "tool_output", "tool_exit")
    class ExtraEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class InfoEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FLOW_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    INTERFACE_FIELD_NUMBER: _ClassVar[int]
    PACKETS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_PACKETS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    REORDERED_FIELD_NUMBER: _ClassVar[int]
    FOREIGN_FRAMES_FIELD_NUMBER: _ClassVar[int]
    SUSPECT_FRAMES_FIELD_NUMBER: _ClassVar[int]
    KERNEL_PACKETS_FIELD_NUMBER: _ClassVar[int]
    KERNEL_DROPS_FIELD_NUMBER: _ClassVar[int]
    KERNEL_FREEZES_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_PACKETS_FIELD_NUMBER: _ClassVar[int]
    SEND_ERRORS_FIELD_NUMBER: _ClassVar[int]
    USER_CPU_S_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_CPU_S_FIELD_NUMBER: _ClassVar[int]
    FIRST_WALL_NS_FIELD_NUMBER: _ClassVar[int]
    LAST_WALL_NS_FIELD_NUMBER: _ClassVar[int]
    PPS_FIELD_NUMBER: _ClassVar[int]
    BPS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    INTERFACE_BEFORE_FIELD_NUMBER: _ClassVar[int]
    INTERFACE_AFTER_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_START_WALL_NS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    XDP_QUEUE_BUSY_FIELD_NUMBER: _ClassVar[int]
    COUNT_SOURCE_FIELD_NUMBER: _ClassVar[int]
    TOOL_COMMAND_FIELD_NUMBER: _ClassVar[int]
    TOOL_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    TOOL_EXIT_FIELD_NUMBER: _ClassVar[int]
    flow_id: int
    name: str
    role: Role
    interface: str
    packets: int
    bytes: int
    unique_packets: int
    duplicates: int
    reordered: int
    foreign_frames: int
    suspect_frames: int
    kernel_packets: int
    kernel_drops: int
    kernel_freezes: int
    expected_packets: int
    send_errors: int
    user_cpu_s: float
    system_cpu_s: float
    first_wall_ns: int
    last_wall_ns: int
    pps: float
    bps: float
    latency: LatencySummary
    interface_before: InterfaceCounters
    interface_after: InterfaceCounters
    actual_start_wall_ns: int
    error: str
    extra: _containers.ScalarMap[str, int]
    info: _containers.ScalarMap[str, str]
    xdp_queue_busy: XdpQueueBusy
    count_source: str
    tool_command: str
    tool_output: str
    tool_exit: str
    def __init__(self, flow_id: _Optional[int] = ..., name: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., interface: _Optional[str] = ..., packets: _Optional[int] = ..., bytes: _Optional[int] = ..., unique_packets: _Optional[int] = ..., duplicates: _Optional[int] = ..., reordered: _Optional[int] = ..., foreign_frames: _Optional[int] = ..., suspect_frames: _Optional[int] = ..., kernel_packets: _Optional[int] = ..., kernel_drops: _Optional[int] = ..., kernel_freezes: _Optional[int] = ..., expected_packets: _Optional[int] = ..., send_errors: _Optional[int] = ..., user_cpu_s: _Optional[float] = ..., system_cpu_s: _Optional[float] = ..., first_wall_ns: _Optional[int] = ..., last_wall_ns: _Optional[int] = ..., pps: _Optional[float] = ..., bps: _Optional[float] = ..., latency: _Optional[_Union[LatencySummary, _Mapping]] = ..., interface_before: _Optional[_Union[InterfaceCounters, _Mapping]] = ..., interface_after: _Optional[_Union[InterfaceCounters, _Mapping]] = ..., actual_start_wall_ns: _Optional[int] = ..., error: _Optional[str] = ..., extra: _Optional[_Mapping[str, int]] = ..., info: _Optional[_Mapping[str, str]] = ..., xdp_queue_busy: _Optional[_Union[XdpQueueBusy, _Mapping]] = ..., count_source: _Optional[str] = ..., tool_command: _Optional[str] = ..., tool_output: _Optional[str] = ..., tool_exit: _Optional[str] = ...) -> None: ...

class XdpQueueBusy(_message.Message):
    __slots__ = ("interface", "queue", "role", "owners", "holders", "tool", "message")
    INTERFACE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    OWNERS_FIELD_NUMBER: _ClassVar[int]
    HOLDERS_FIELD_NUMBER: _ClassVar[int]
    TOOL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    interface: str
    queue: int
    role: str
    owners: str
    holders: _containers.RepeatedScalarFieldContainer[str]
    tool: str
    message: str
    def __init__(self, interface: _Optional[str] = ..., queue: _Optional[int] = ..., role: _Optional[str] = ..., owners: _Optional[str] = ..., holders: _Optional[_Iterable[str]] = ..., tool: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class GetResultsRequest(_message.Message):
    __slots__ = ("session_id", "wait")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    wait: bool
    def __init__(self, session_id: _Optional[str] = ..., wait: _Optional[bool] = ...) -> None: ...

class GetResultsResponse(_message.Message):
    __slots__ = ("session_id", "state", "flows", "error")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FLOWS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    state: SessionState
    flows: _containers.RepeatedCompositeFieldContainer[FlowResult]
    error: str
    def __init__(self, session_id: _Optional[str] = ..., state: _Optional[_Union[SessionState, str]] = ..., flows: _Optional[_Iterable[_Union[FlowResult, _Mapping]]] = ..., error: _Optional[str] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ("session_id", "interval_ms")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    interval_ms: int
    def __init__(self, session_id: _Optional[str] = ..., interval_ms: _Optional[int] = ...) -> None: ...

class FlowCounters(_message.Message):
    __slots__ = ("flow_id", "name", "role", "packets", "bytes")
    FLOW_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    PACKETS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    flow_id: int
    name: str
    role: Role
    packets: int
    bytes: int
    def __init__(self, flow_id: _Optional[int] = ..., name: _Optional[str] = ..., role: _Optional[_Union[Role, str]] = ..., packets: _Optional[int] = ..., bytes: _Optional[int] = ...) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ("session_id", "wall_ns", "state", "flows")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    WALL_NS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FLOWS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    wall_ns: int
    state: SessionState
    flows: _containers.RepeatedCompositeFieldContainer[FlowCounters]
    def __init__(self, session_id: _Optional[str] = ..., wall_ns: _Optional[int] = ..., state: _Optional[_Union[SessionState, str]] = ..., flows: _Optional[_Iterable[_Union[FlowCounters, _Mapping]]] = ...) -> None: ...

class ReleaseRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class ReleaseResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CheckPrepareRequest(_message.Message):
    __slots__ = ("prepare",)
    PREPARE_FIELD_NUMBER: _ClassVar[int]
    prepare: PrepareRequest
    def __init__(self, prepare: _Optional[_Union[PrepareRequest, _Mapping]] = ...) -> None: ...

class CheckPrepareResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AcquireHoldRequest(_message.Message):
    __slots__ = ("holder", "hold_ms", "wait")
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    HOLD_MS_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    holder: SessionHolder
    hold_ms: int
    wait: bool
    def __init__(self, holder: _Optional[_Union[SessionHolder, _Mapping]] = ..., hold_ms: _Optional[int] = ..., wait: _Optional[bool] = ...) -> None: ...

class AcquireHoldResponse(_message.Message):
    __slots__ = ("granted", "holder", "ahead", "hold_ms")
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    AHEAD_FIELD_NUMBER: _ClassVar[int]
    HOLD_MS_FIELD_NUMBER: _ClassVar[int]
    granted: bool
    holder: SessionHolder
    ahead: int
    hold_ms: int
    def __init__(self, granted: _Optional[bool] = ..., holder: _Optional[_Union[SessionHolder, _Mapping]] = ..., ahead: _Optional[int] = ..., hold_ms: _Optional[int] = ...) -> None: ...

class ReleaseHoldRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class ReleaseHoldResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
