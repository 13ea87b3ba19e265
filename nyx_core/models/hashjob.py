"""Background SHA-256 of the models that have no cached hash yet (a job: ``kind="hash"``, no GPU).

Hashing a 23 GB checkpoint takes a minute or more, so it never runs in the page: the Models page
and ``nyx models hash`` submit this job; each result lands in the model index as soon as that file
is done, so a cancelled job keeps what it finished.
"""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from nyx_core.jobs.task import TaskReporter
from nyx_core.models import index


def missing(ws, models=None) -> list[str]:
    """Model files (not folders) without a valid cached hash (``models``: a fresh ``scan`` result)."""
    from nyx_core.models.library import scan

    return [m.path for m in (models if models is not None else scan(ws)) if m.sha256 is None and m.format not in ("diffusers", "transformers", "onnx")
            and (Path(ws.models) / m.path).is_file()]


def submit_hash(ws, settings=None):
    """Queue the hash job for every model lacking a hash; None when there is nothing to do."""
    from nyx_core.jobs import JobManager, JobSpec
    from nyx_core.jobs.task import task_argv

    todo = missing(ws)
    if not todo:
        return None
    jm = JobManager(ws, settings)
    for j in jm.list():
        if j.spec.kind == "hash" and not j.damage and not j.state.final:
            return j  # one is already on it
    argv, env = task_argv("nyx_core.models.hashjob", "--workspace", str(ws.root))
    return jm.submit(JobSpec(argv=argv, env=env, kind="hash", gpu_set="none"), f"hash {len(todo)} model(s)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="nyx_core.models.hashjob")
    ap.add_argument("--workspace", required=True)
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    from nyx_core.workspace import Workspace

    ws = Workspace.open(args.workspace)
    todo = missing(ws)
    sizes = {p: (ws.models / p).stat().st_size for p in todo}
    rep = TaskReporter(total=sum(sizes.values()), unit="bytes", min_interval_s=0.5)
    done = 0
    hashed = {}
    try:
        for rel in todo:
            path = ws.models / rel

            def tick(n: int, _rel=rel) -> None:
                nonlocal done
                done += n
                rep.progress(done, message=_rel)

            before = index.stamp(path)
            sha = index.sha256_file(path, tick)
            if index.stamp(path) == before:  # changed while we read it: leave it for next time
                index.record_hash(ws.root, rel, path, sha)
                hashed[rel] = sha
    except KeyboardInterrupt:
        rep.warning(f"stopped; {len(hashed)} of {len(todo)} hashed and kept")
        return 130
    rep.progress(done, force=True)
    rep.result(hashed=hashed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
