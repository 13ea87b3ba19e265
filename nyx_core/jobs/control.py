"""Process identity and process-group control (psutil).

A pid alone is not an identity: pids are reused. Every pid Nyx stores comes with the process's
``create_time``; a process counts as "ours" only when both match. Zombies count as gone.
"""
from __future__ import annotations

import os
import signal
import time

import psutil

#: psutil's create_time comes from /proc with clock-tick resolution; allow for float noise.
_CT_TOLERANCE = 0.05


def create_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError, ValueError):
        return None


def is_alive(pid: int | None, ctime: float | None) -> bool:
    """True when ``pid`` runs and is the same process that had ``ctime`` (not a reused pid)."""
    if not pid:
        return False
    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return False
        if ctime is not None and abs(p.create_time() - ctime) > _CT_TOLERANCE:
            return False
        return True
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def boot_time() -> float | None:
    try:
        return float(psutil.boot_time())
    except Exception:  # noqa: BLE001 - no /proc: nothing can be proven ours
        return None


def same_boot(recorded: float | None) -> bool:
    """True when ``recorded`` (a ``boot_time()`` taken by the runner) is this boot. Unknown is
    not the same boot: a status from before this field existed proves nothing about its pids."""
    now = boot_time()
    # /proc/stat's btime is whole seconds and psutil may adjust it by a second on clock changes
    return recorded is not None and now is not None and abs(now - recorded) <= 2.0


def own_group_members(pgid: int | None, leader_pid: int | None, leader_ctime: float | None,
                      boot: float | None) -> list[int]:
    """The live members of process group ``pgid`` that are provably the ones a runner started.

    A pgid is only a number: after a reboot, or once the group emptied, another process can lead
    a group with the same number (as root, killing it would kill a stranger). So: nothing across a
    reboot; a leader pid that runs but was created at another time means the number was reused
    (nothing is ours); and only members created no earlier than our leader count.
    """
    if not pgid or leader_ctime is None or not same_boot(boot):
        return []
    if leader_pid == pgid:
        now_ct = create_time(pgid)
        if now_ct is not None and abs(now_ct - leader_ctime) > _CT_TOLERANCE:
            return []  # pid reused: this group is someone else's
    out = []
    for pid in group_members(pgid):
        ct = create_time(pid)
        if ct is not None and ct >= leader_ctime - _CT_TOLERANCE:
            out.append(pid)
    return out


def kill_members(pids: list[int], grace: float = 5.0) -> None:
    """SIGTERM each pid, then SIGKILL what is left after ``grace`` seconds. Pid by pid (never the
    whole group number) so a process that joined later under a reused number is never touched."""
    ident = {pid: create_time(pid) for pid in pids}
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid, ct in ident.items():
            if is_alive(pid, ct):  # still the same process, not a pid reused meanwhile
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(is_alive(p, ct) for p, ct in ident.items()):
            time.sleep(0.1)
        ident = {p: ct for p, ct in ident.items() if is_alive(p, ct)}
        if not ident:
            return


def group_members(pgid: int | None) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    if not pgid:
        return []
    try:
        os.killpg(pgid, 0)  # cheap negative answer before scanning every process
    except ProcessLookupError:
        return []
    except PermissionError:
        pass
    out = []
    for p in psutil.process_iter(["pid", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if os.getpgid(p.info["pid"]) == pgid:
                out.append(p.info["pid"])
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return out


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to the group; False if the group no longer exists."""
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return False


def wait_group_gone(pgid: int, timeout: float, poll: float = 0.1, leader: "psutil.Popen | None" = None) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if leader is not None:
            leader.poll()  # reap our own child so it doesn't linger as a zombie
        if not group_members(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


def terminate_group(pgid: int, grace: tuple[float, float] = (20.0, 10.0), *, start_with_sigint: bool = True,
                    on_signal=None, leader=None) -> list[str]:
    """SIGINT (let the program finish its step), then SIGTERM, then SIGKILL, each after a grace period.

    Returns the signal names sent. ``on_signal(name)`` is called before each send (for events).
    ``leader`` may be a ``subprocess.Popen`` to reap while waiting.
    """
    sent: list[str] = []
    plan = []
    if start_with_sigint:
        plan.append((signal.SIGINT, grace[0]))
    plan += [(signal.SIGTERM, grace[1]), (signal.SIGKILL, 5.0)]
    for sig, wait in plan:
        if not group_members(pgid):
            break
        if on_signal:
            on_signal(sig.name)
        if not signal_group(pgid, sig):
            break
        sent.append(sig.name)
        if wait_group_gone(pgid, wait, leader=leader):
            break
    return sent
