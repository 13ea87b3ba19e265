"""`nyx train …`: start, list, follow and stop training jobs (for SSH users).

    nyx train start configs/mine.toml [--name N] [--wait]
    nyx train ls [--state running] [--json]
    nyx train status ID [--json] [--follow]
    nyx train stop ID [--save] [--no-wait]
    nyx train reconcile        record runs whose runner died, start what the queue can start
    nyx train resume ID [--state DIR]   a new run from the training state ID saved
    nyx train rerun ID                  a new run of ID's config snapshot
    nyx train clone ID NAME             save ID's config snapshot as configs/NAME.toml

Reads (ls, status) change nothing; see docs/jobs.md "Who starts the next queued run".
"""
from __future__ import annotations

import argparse
import sys
import time

from nyx_core.cli.common import print_json, settings, workspace
from nyx_core.errors import NyxError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="start, list, follow and stop training runs")
    tsub = p.add_subparsers(dest="train_command", required=True)

    s = tsub.add_parser("start", help="start (or queue) a run from a Nyx config file")
    s.add_argument("file", help="a Nyx config .toml (workspace path)")
    s.add_argument("--name", help="job name (default: the config's project name)")
    s.add_argument("--wait", action="store_true", help="follow the run until it ends; exit 0 only if it completed")
    s.add_argument("--again", action="store_true", help="start even if this config is already queued or running")
    s.set_defaults(func=_start)

    ls = tsub.add_parser("ls", help="list jobs, newest first")
    ls.add_argument("--state", help="only jobs in this state (running, queued, completed, failed, …)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_ls)

    st = tsub.add_parser("status", help="a job's state and progress")
    st.add_argument("id", help="job id (a unique prefix or suffix is enough)")
    st.add_argument("--json", action="store_true")
    st.add_argument("--follow", action="store_true", help="keep printing progress until the job ends")
    st.set_defaults(func=_status)

    sp = tsub.add_parser("stop", help="stop a run (or remove it from the queue)")
    sp.add_argument("id")
    sp.add_argument("--save", action="store_true", help="stop right after the next checkpoint is saved")
    sp.add_argument("--no-wait", action="store_true", help="return at once instead of waiting for the end")
    sp.set_defaults(func=_stop)

    rc = tsub.add_parser("reconcile", help="record runs whose runner died (lost) and start the queued runs "
                                           "whose GPUs are free (reads never do this)")
    rc.set_defaults(func=_reconcile)

    rs = tsub.add_parser("resume", help="a new run of a run's config, continuing from a training state it saved")
    rs.add_argument("id")
    rs.add_argument("--state", help="the state folder (default: the newest one the run saved)")
    rs.add_argument("--again", action="store_true", help="start even if this config is already queued or running")
    rs.add_argument("--wait", action="store_true")
    rs.set_defaults(func=_resume)

    rr = tsub.add_parser("rerun", help="a new run of the config a run was started with (its snapshot)")
    rr.add_argument("id")
    rr.add_argument("--again", action="store_true", help="start even if this config is already queued or running")
    rr.add_argument("--wait", action="store_true")
    rr.set_defaults(func=_rerun)

    cl = tsub.add_parser("clone", help="save the config a run was started with as a new config file")
    cl.add_argument("id")
    cl.add_argument("name", help="the new config's name (configs/NAME.toml)")
    cl.set_defaults(func=_clone)


def _manager(args):
    from nyx_core.jobs import JobManager

    ws = workspace(args)
    return JobManager(ws, settings(ws))


def _start(args) -> int:
    from nyx_core.config import load_config

    jm = _manager(args)
    path = jm.ws.resolve(args.file, must_exist=True)
    job = jm.start_training(load_config(path), name=args.name, config_path=path, again=args.again)
    return _started(jm, job, args.wait)


def _started(jm, job, wait: bool) -> int:
    print(f"{job.id}\t{job.state.value}")
    if not wait:
        return 0
    job = _follow(jm, job.id)
    return 0 if job.state.value == "completed" else 1


def _resume(args) -> int:
    jm = _manager(args)
    return _started(jm, jm.resume(args.id, args.state, again=args.again), args.wait)


def _rerun(args) -> int:
    jm = _manager(args)
    return _started(jm, jm.rerun(args.id, again=args.again), args.wait)


def _clone(args) -> int:
    jm = _manager(args)
    print(jm.ws.relative(jm.clone_config(args.id, args.name)))
    return 0


def _ls(args) -> int:
    jm = _manager(args)
    jobs = jm.list(state=args.state)
    if args.json:
        print_json([j.summary() for j in jobs])
        return 0
    if not jobs:
        print("no jobs")
        return 0
    queue = [j.id for j in jm.queued()]
    for j in jobs:
        if j.damage:
            print(f"{j.id}\tdamaged\t-\t-\t{j.damage}")
            continue
        st = jm.progress(j.id)
        prog = f"{st.step}/{st.total}" if st.total else "-"
        pos = f" (queue #{queue.index(j.id) + 1})" if j.id in queue else ""
        note = "\tnot recorded yet: run `nyx train reconcile`" if j.unrecorded else ""
        print(f"{j.id}\t{j.state.value}{pos}\t{prog}\t{_dur(j.status.duration_s)}{note}")
    return 0


def _reconcile(args) -> int:
    jm = _manager(args)
    lost, started = jm.reconcile()
    for j in lost:
        print(f"{j.id}\t{j.state.value}\t{j.status.reason or ''}")
    for j in started:
        print(f"{j.id}\tstarted")
    if not lost and not started:
        print("nothing to do")
    return 0


def _status(args) -> int:
    jm = _manager(args)
    job = jm.get(args.id)
    if job.damage:
        if args.json:
            print_json(job.summary())
        else:
            print(f"{job.id}\tdamaged: {job.damage}")
        return 1
    if args.follow:
        job = _follow(jm, job.id)
    st = jm.progress(job.id)
    if args.json:
        out = job.summary()
        out["progress"] = {
            "phase": st.phase, "step": st.step, "total": st.total, "epoch": st.epoch, "epochs": st.epochs,
            "it_per_s": st.it_per_s, "eta_s": st.eta_s, "avr_loss": st.avr_loss,
            "last_loss": st.loss_values[-1] if st.loss_values else None, "checkpoints": st.checkpoints,
            "samples": len(st.samples), "damaged_events": st.bad_events,
        }
        out["error_lines"] = job.status.error_lines
        out["files"] = jm.files(job.id).to_dict()
        print_json(out)
        return 0
    if not args.follow:
        print(_line(job, st))
    if job.status.reason:
        print(f"reason: {job.status.reason}")
    for line in job.status.error_lines[-10:]:
        print(f"  | {line}")
    files = jm.files(job.id)
    for p in files.loras:
        print(f"lora: {jm.ws.relative(p) if _inside(jm.ws, p) else p}")
    for p in files.states:
        print(f"state: {jm.ws.relative(p) if _inside(jm.ws, p) else p}  (nyx train resume {job.id})")
    if files.samples:
        print(f"samples: {len(files.samples)} in {files.folder}/sample")
    if st.bad_events:
        print(f"warning: {st.bad_events} damaged progress line(s) skipped ({st.bad_event})")
    if st.notify and not st.notify["ok"]:
        print(f"webhook failed: {st.notify['message']}")
    return 0


def _inside(ws, p) -> bool:
    try:
        ws.relative(p)
        return True
    except Exception:  # noqa: BLE001 - outside the workspace: print it whole
        return False


def _stop(args) -> int:
    jm = _manager(args)
    job = jm.stop(args.id, save=args.save)
    if args.save and not job.state.final:
        print(f"{job.id}: will stop right after the next checkpoint is saved")
    if args.no_wait or job.state.final:
        print(f"{job.id}\t{job.state.value}")
        return 0
    job = jm.wait(job.id, timeout=None if args.save else 120)
    print(f"{job.id}\t{job.state.value}")
    if not job.state.final:
        raise NyxError(f"{job.id} did not stop within 120 s; check `nyx train status {job.id}`")
    return 0


def _follow(jm, job_id: str):
    from nyx_core.jobs import ProgressState

    st = ProgressState()
    last = ""
    while True:
        job = jm.get(job_id)
        st = jm.progress(job_id, st)
        line = _line(job, st)
        if line != last:
            print(line, flush=True)
            last = line
        if job.state.final:
            return job
        time.sleep(1.0)


def _line(job, st) -> str:
    parts = [f"{job.id}", job.state.value]
    if st.phase and not job.state.final:
        parts.append(st.phase)
    if st.total:
        parts.append(f"step {st.step}/{st.total} ({st.fraction:.0%})")
    if st.epoch and st.epochs:
        parts.append(f"epoch {st.epoch}/{st.epochs}")
    if st.avr_loss is not None:
        parts.append(f"loss {st.avr_loss:.4g}")
    if st.it_per_s and not job.state.final:
        parts.append(f"{st.it_per_s:.3g} it/s")
    if st.eta_s is not None and not job.state.final:
        parts.append(f"ETA {_dur(st.eta_s)}")
    if job.state.final:
        parts.append(_dur(job.status.duration_s))
    return " | ".join(parts)


def _dur(s) -> str:
    if s is None:
        return "-"
    s = int(s)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{sec:02d}s"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(0)
