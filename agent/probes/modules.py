"""Kernel-module graph and the blast radius of reloading a driver.

The incident this exists for: activating PF_RING's ice ZC driver unloaded `ice`
with `modprobe -r`. `irdma` (Intel's RDMA driver) holds both `ice` and `i40e`
(it uses symbols of each), so `irdma` had to go first; `modprobe -r` then also
removes every dependency of a removed module that nobody uses any more, and
`i40e` — used only by `irdma` — went with it. Every i40e port went down,
the management NIC and the SSH session included
(https://github.com/ntop/PF_RING/issues/917). PF_RING fixed its script by
using `rmmod`, which removes exactly the module it is given.

Everything here but `read_module_snapshot` is pure and works on a snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from ringlab.probe_model import ModuleInfo, ModuleSnapshot, ReloadImpact


def module_name(driver: str) -> str:
    """Driver names may use '-', module names never do (vfio-pci is module vfio_pci)."""
    return driver.replace("-", "_")


def parse_proc_modules(text: str) -> list[ModuleInfo]:
    """/proc/modules: `name size refcount used_by,... state address [taint]`."""
    out: list[ModuleInfo] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 5:
            raise ValueError(f"/proc/modules line {lineno}: expected at least 5 fields: {line!r}")
        name, size, refcount, used_by, state = parts[:5]
        users = [u for u in used_by.split(",") if u and u != "-" and not u.startswith("[")]
        out.append(
            ModuleInfo(
                name=name,
                size=int(size),
                refcount=None if refcount == "-" else int(refcount),
                used_by=users,
                state=state,
            )
        )
    return out


def merge_holders(
    modules: list[ModuleInfo], holders: Mapping[str, Iterable[str]]
) -> ModuleSnapshot:
    """Add /sys/module/<m>/holders entries that /proc/modules did not list (it truncates)."""
    merged = []
    for m in modules:
        extra = [h for h in sorted(holders.get(m.name, ())) if h not in m.used_by]
        merged.append(
            ModuleInfo(m.name, m.size, m.refcount, [*m.used_by, *extra], m.state) if extra else m
        )
    return ModuleSnapshot(modules=merged)


def read_module_snapshot(root: Path = Path("/")) -> ModuleSnapshot | None:
    """None on kernels built without loadable modules (no /proc/modules)."""
    try:
        text = (root / "proc/modules").read_text()
    except OSError:
        return None
    modules = parse_proc_modules(text)
    holders: dict[str, list[str]] = {}
    for m in modules:
        hdir = root / "sys/module" / m.name / "holders"
        try:
            holders[m.name] = [p.name for p in hdir.iterdir()]
        except OSError:
            continue
    return merge_holders(modules, holders)


def _extra_refs(m: ModuleInfo) -> int:
    """References beyond other modules' (open devices, sockets): they make removal fail."""
    if m.refcount is None:
        return 0
    return max(0, m.refcount - len(m.used_by))


def removal_set(snapshot: ModuleSnapshot, module: str) -> list[str]:
    """What `modprobe -r MODULE` takes out, in removal order.

    1. Holders first: a module cannot go while another holds it, so every module
       holding MODULE (recursively: holders of holders) goes before it, deepest
       first. `modprobe -r --remove-holders` does this; so did the PF_RING script.
    2. Then the cascade: after removing a module, modprobe -r also removes each of
       its dependencies that is now unused — every holder of it is already gone
       and nothing else references it (refcount minus module holders is 0). This
       repeats for the dependencies' dependencies.
       This is the step that took i40e: it was a dependency of irdma only.
    """
    mods = snapshot.by_name()
    name = module_name(module)
    if name not in mods:
        return []
    deps: dict[str, set[str]] = {m: set() for m in mods}
    for m in mods.values():
        for holder in m.used_by:
            if holder in deps:
                deps[holder].add(m.name)

    removed: list[str] = []
    seen: set[str] = set()

    def take_with_holders(n: str) -> None:
        if n in seen:
            return
        seen.add(n)
        for holder in sorted(mods[n].used_by):
            if holder in mods:
                take_with_holders(holder)
        removed.append(n)

    take_with_holders(name)
    changed = True
    while changed:
        changed = False
        for r in list(removed):
            for d in sorted(deps[r]):
                dm = mods[d]
                if d in seen or dm.refcount is None:
                    continue
                if all(h in seen for h in dm.used_by) and _extra_refs(dm) == 0:
                    seen.add(d)
                    removed.append(d)
                    changed = True
    return removed


def is_built_in(root: Path, module: str) -> bool:
    """Built-in modules have a /sys/module entry (for their parameters) but no initstate."""
    entry = root / "sys/module" / module_name(module)
    return entry.is_dir() and not (entry / "initstate").exists()


def _not_removable(
    name: str,
    interface_drivers: Mapping[str, str],
    mgmt: set[str],
    built_in: bool,
    loadable_modules: bool,
) -> ReloadImpact:
    """A module modprobe -r cannot remove: built in, or absent. Says what it drives."""
    driven = sorted(i for i, drv in interface_drivers.items() if module_name(drv) == name)
    if loadable_modules and not built_in:
        return ReloadImpact(
            module=name,
            explanation=f"module {name} is not loaded (not in /proc/modules); nothing to remove",
        )
    if not loadable_modules:
        lines = [
            f"{name} cannot be unloaded: this kernel has no loadable modules (no"
            " /proc/modules), so its drivers are built in; only a reboot reloads one."
        ]
    else:
        lines = [
            f"{name} is built into the kernel (in /sys/module, not in /proc/modules):"
            f" `modprobe -r {name}` cannot remove it; only a reboot reloads it."
        ]
    if driven:
        lines.append(f"It drives {', '.join(driven)}.")
    driven_mgmt = sorted(set(driven) & mgmt)
    if driven_mgmt:
        lines.append(
            f"{', '.join(driven_mgmt)} is the management interface: a reboot to reload {name}"
            " cuts the controller off until the host is back."
        )
    return ReloadImpact(
        module=name,
        management_affected=bool(driven_mgmt),
        explanation=" ".join(lines),
    )


def reload_impact(
    snapshot: ModuleSnapshot,
    module: str,
    interface_drivers: Mapping[str, str],
    management_ifaces: Iterable[str],
    *,
    built_in: bool = False,
    loadable_modules: bool = True,
) -> ReloadImpact:
    """The blast radius of reloading MODULE with `modprobe -r` (see `removal_set`).

    interface_drivers maps each interface to its driver (/sys/class/net/IF/device/driver);
    an interface goes down when its driver's module is removed. The reload is
    dangerous when a management interface is among them.
    """
    name = module_name(module)
    mods = snapshot.by_name()
    mgmt = set(management_ifaces)
    if name not in mods:
        return _not_removable(name, interface_drivers, mgmt, built_in, loadable_modules)
    removed = removal_set(snapshot, name)
    removed_set = set(removed)
    down = sorted(i for i, drv in interface_drivers.items() if module_name(drv) in removed_set)
    mgmt_down = sorted(set(down) & mgmt)

    holders = [m for m in removed if m != name and m in _holder_closure(mods, name)]
    cascaded = [m for m in removed if m != name and m not in holders]
    lines = [f"`modprobe -r {name}` would remove {len(removed)} module(s): {', '.join(removed)}."]
    if holders:
        lines.append(f"{', '.join(holders)} hold {name} and must be removed before it.")
    if cascaded:
        lines.append(
            f"{', '.join(cascaded)} would then be unused and modprobe -r removes unused "
            f"dependencies too."
        )
    blockers = [m for m in removed[: len(holders) + 1] if _extra_refs(mods[m]) > 0]
    if blockers:
        lines.append(
            f"{', '.join(blockers)} still in use by something other than a module "
            f"(open device or socket): the removal would fail until that user stops."
        )
    if down:
        by_driver = ", ".join(f"{i} ({interface_drivers[i]})" for i in down)
        lines.append(f"Interfaces that go down: {by_driver}.")
    else:
        lines.append("No interface would go down.")
    if mgmt_down:
        lines.append(
            f"DANGER: {', '.join(mgmt_down)} is the management interface; the host becomes "
            f"unreachable (SSH and the agent's session included)."
        )

    return ReloadImpact(
        module=name,
        modules_removed=removed,
        interfaces_down=down,
        management_affected=bool(mgmt_down),
        dangerous=bool(mgmt_down),
        explanation=" ".join(lines),
        safer_alternative=_safer(name, holders, cascaded, interface_drivers, mgmt),
    )


def _holder_closure(mods: Mapping[str, ModuleInfo], name: str) -> set[str]:
    out: set[str] = set()
    stack = list(mods[name].used_by)
    while stack:
        h = stack.pop()
        if h in out or h not in mods:
            continue
        out.add(h)
        stack.extend(mods[h].used_by)
    return out


def _safer(
    name: str,
    holders: list[str],
    cascaded: list[str],
    interface_drivers: Mapping[str, str],
    mgmt: set[str],
) -> str:
    exact = [*holders, name]
    still_down = sorted(
        i for i, drv in interface_drivers.items() if module_name(drv) in exact and i in mgmt
    )
    if still_down:
        return (
            f"No safe way from this session: {', '.join(still_down)} (management) uses a driver "
            f"that must itself be unloaded. Use the console, or move management to another NIC."
        )
    cmd = " && ".join(f"rmmod {m}" for m in exact)
    kept = f"; {', '.join(cascaded)} stay loaded" if cascaded else ""
    return f"`{cmd}` removes exactly these modules, never their dependencies{kept}."
