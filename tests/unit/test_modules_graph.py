from __future__ import annotations

from pathlib import Path

import pytest

from ringlab.agent.probes import modules
from ringlab.probe_model import ModuleInfo, ModuleSnapshot

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "probes"


def fixture(name: str) -> str:
    """A captured fixture without its leading '# source:' comment lines."""
    lines = (FIXTURES / name).read_text().splitlines()
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return "\n".join(lines) + "\n"


# The PF_RING #917 host: ice ports for capture, i40e ports with management on eno12399.
INTERFACES = {
    "eno12399": "i40e",
    "eno12409": "i40e",
    "eno12419": "i40e",
    "eno12429": "i40e",
    "ens3f0": "ice",
    "ens3f1": "ice",
    "ens6f0": "ice",
    "ens6f1": "ice",
}


def snapshot() -> ModuleSnapshot:
    return ModuleSnapshot(
        modules=modules.parse_proc_modules(fixture("proc_modules_ice_irdma_i40e.txt"))
    )


def test_parse_proc_modules() -> None:
    mods = snapshot().by_name()
    assert mods["ice"].used_by == ["irdma"]
    assert mods["irdma"].used_by == []
    assert mods["ib_core"].refcount == 6
    assert mods["virtio_net"].state == "Live"


def test_parse_rejects_short_lines() -> None:
    with pytest.raises(ValueError, match="line 1"):
        modules.parse_proc_modules("ice 1044480\n")


def test_ice_reload_takes_i40e_and_the_management_interface() -> None:
    impact = modules.reload_impact(snapshot(), "ice", INTERFACES, ["eno12399"])
    assert impact.modules_removed == ["irdma", "ice", "i40e"]
    assert impact.interfaces_down == sorted(INTERFACES)
    assert impact.management_affected
    assert impact.dangerous
    assert "eno12399" in impact.explanation
    assert "irdma hold ice" in impact.explanation
    assert "rmmod irdma && rmmod ice" in impact.safer_alternative
    assert "i40e stay loaded" in impact.safer_alternative


def test_shared_dependencies_survive() -> None:
    removed = modules.removal_set(snapshot(), "ice")
    # ib_uverbs is still used by rdma_ucm, and ib_core by the rest of the RDMA stack.
    assert "ib_uverbs" not in removed
    assert "ib_core" not in removed


def test_reload_of_a_module_nobody_holds() -> None:
    impact = modules.reload_impact(snapshot(), "virtio_net", {"eth0": "virtio_net"}, [])
    assert impact.modules_removed == ["virtio_net"]
    assert impact.interfaces_down == ["eth0"]
    assert not impact.dangerous
    assert impact.safer_alternative.startswith("`rmmod virtio_net`")


def test_cascade_follows_chains_and_respects_other_users() -> None:
    snap = ModuleSnapshot(
        modules=[
            ModuleInfo("drv", refcount=0),
            ModuleInfo("helper", refcount=1, used_by=["drv"]),
            ModuleInfo("core", refcount=1, used_by=["helper"]),
            # busy has an extra reference (an open device): modprobe -r leaves it loaded.
            ModuleInfo("busy", refcount=2, used_by=["drv"]),
        ]
    )
    assert modules.removal_set(snap, "drv") == ["drv", "helper", "core"]


def test_management_driver_itself_has_no_safe_alternative() -> None:
    impact = modules.reload_impact(snapshot(), "i40e", INTERFACES, ["eno12399"])
    assert impact.dangerous
    # Symmetric to the incident: irdma goes first and then ice is unused.
    assert impact.modules_removed == ["irdma", "i40e", "ice"]
    assert "No safe way" in impact.safer_alternative


def test_module_not_loaded_and_dash_names() -> None:
    impact = modules.reload_impact(snapshot(), "vfio-pci", {}, [])
    assert impact.module == "vfio_pci"
    assert impact.modules_removed == []
    assert not impact.dangerous
    assert "not loaded" in impact.explanation


def test_holders_from_sysfs_are_merged() -> None:
    merged = modules.merge_holders([ModuleInfo("i40e", refcount=1)], {"i40e": ["irdma"]})
    assert merged.by_name()["i40e"].used_by == ["irdma"]


@pytest.mark.parametrize(
    ("built_in", "loadable", "says"),
    [(True, True, "is built into the kernel"), (False, False, "no loadable modules")],
)
def test_a_built_in_driver_cannot_be_reloaded_and_its_interfaces_are_named(
    built_in: bool, loadable: bool, says: str
) -> None:
    impact = modules.reload_impact(
        ModuleSnapshot(),
        "virtio_net",
        {"eth0": "virtio_net", "eth1": "ice"},
        ["eth0"],
        built_in=built_in,
        loadable_modules=loadable,
    )
    assert says in impact.explanation
    assert "It drives eth0." in impact.explanation
    assert "eth0 is the management interface" in impact.explanation
    assert impact.management_affected and impact.modules_removed == []


def test_a_module_that_is_neither_loaded_nor_built_in_is_just_not_loaded() -> None:
    impact = modules.reload_impact(ModuleSnapshot(), "ice", {"eth1": "ice"}, ["eth1"])
    assert "not loaded" in impact.explanation and not impact.management_affected


def test_built_in_means_a_sys_module_entry_without_initstate(tmp_path: Path) -> None:
    (tmp_path / "sys/module/virtio_net/parameters").mkdir(parents=True)
    (tmp_path / "sys/module/ice").mkdir(parents=True)
    (tmp_path / "sys/module/ice/initstate").write_text("live\n")
    assert modules.is_built_in(tmp_path, "virtio_net")
    assert modules.is_built_in(tmp_path, "virtio-net")  # modprobe spells it either way
    assert not modules.is_built_in(tmp_path, "ice")
    assert not modules.is_built_in(tmp_path, "i40e")
