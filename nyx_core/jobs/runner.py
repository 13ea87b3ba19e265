"""The job runner: ``python -m nyx_core.jobs.runner [--detach] <job dir>``.

One runner per job, in its own session (it outlives the UI). It starts the program of the job's
spec in a *new process group* (so a stop reaches every process sd-scripts/accelerate spawn),
tees its merged output into ``train.log``, parses it into ``progress.jsonl`` events, polls the
TensorBoard folder and the sample folder, acts on stop requests written into ``status.json``,
decides the final state from evidence (exit code AND the expected LoRA file), notifies, and then
starts the next queued job.
"""
from __future__ import annotations

import os
import sys


_PRE_FORK_CPU = 0.0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    detach = "--detach" in argv
    argv = [a for a in argv if a != "--detach"]
    if len(argv) != 1:
        print("usage: python -m nyx_core.jobs.runner [--detach] <job dir>", file=sys.stderr)
        return 2
    if detach:
        # Fork so the launcher's wait is short; our parent exits at once and we are re-parented
        # to init (never a zombie of the UI process). A forked child's CPU clock starts at zero:
        # carry the start-up CPU (interpreter + imports) over, so runner_cpu_s is the whole cost.
        global _PRE_FORK_CPU
        t = os.times()
        _PRE_FORK_CPU = t.user + t.system
        if os.fork() > 0:
            os._exit(0)
    from pathlib import Path

    runner = Runner(Path(argv[0]).resolve())
    try:
        return runner.run()
    except Exception as exc:  # a bug here must not leave a job "running" or a program orphaned
        import traceback

        traceback.print_exc()
        return runner.crashed(exc)


# The rest is imported after the fork.
import queue as _queue  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import codecs  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from nyx_core.jobs import control  # noqa: E402
from nyx_core.jobs.models import HEARTBEAT_S, JobState, JobStatus, event  # noqa: E402
from nyx_core.jobs.parser import OutputParser  # noqa: E402
from nyx_core.jobs.reader import SERIES_FILE, series_record  # noqa: E402
from nyx_core.jobs.store import JobStore, tail_lines, update_status  # noqa: E402
from nyx_core.jobs.tbevents import TBWatcher  # noqa: E402

_SPLIT = re.compile(r"[\r\n]")
_SAMPLE_E = re.compile(r"_e(\d{6})_(\d{2})_\d{14}_\d+\.\w+$")
_SAMPLE_S = re.compile(r"_(\d{6})_(\d{2})_\d{14}_\d+\.\w+$")
POLL_S = 0.15
IDLE_S = 0.5


def _leftover_s() -> float:
    try:
        return float(os.environ.get("NYX_LEFTOVER_GRACE_S", "5"))
    except ValueError:
        return 5.0


def _heartbeat_s() -> float:
    try:
        return float(os.environ.get("NYX_HEARTBEAT_S", HEARTBEAT_S))
    except ValueError:
        return HEARTBEAT_S


class Runner:
    def __init__(self, job_dir: Path) -> None:
        self.dir = job_dir
        self.store = JobStore(job_dir.parent)
        self.job = self.store.load_dir(job_dir)
        self.spec = self.job.spec
        self.parser = OutputParser()
        self.q: _queue.Queue[tuple[str, Any]] = _queue.Queue()
        self.events_fh = open(job_dir / "progress.jsonl", "ab", buffering=0)
        # the chart's compact index of the metric events (see reader.SERIES_FILE); created up
        # front so readers know from the start to take loss/lr from it
        self.series_fh = open(job_dir / SERIES_FILE, "ab", buffering=0)
        self.last_emit = time.monotonic()
        self.stop_mode: str | None = None
        self.stop_started = False
        self.stop_signals: list[str] = []
        self.pending_ckpt: tuple[str, int, float] | None = None
        self.seen_samples: set[str] = set()
        self.tb = TBWatcher(Path(self.spec.tb_dir)) if self.spec.tb_dir else None
        self.child = None
        self.started = time.time()
        self._self_signal: str | None = None
        self.eof_at: float | None = None

    # Events -------------------------------------------------------------------------------
    @property
    def _what(self) -> str:
        return "training program" if self.spec.kind == "train" else f"{self.spec.kind} program"

    def emit(self, ev: dict[str, Any]) -> None:
        import json

        self.events_fh.write((json.dumps(ev, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8"))
        self.last_emit = time.monotonic()

    def handle(self, events: list[dict[str, Any]]) -> None:
        for ev in events:
            self.emit(ev)
            if ev["type"] == "checkpoint" and self.stop_mode == "after_checkpoint":
                self.pending_ckpt = (ev["path"], -1, time.monotonic())
            elif ev["type"] == "step" and self.pending_ckpt and self.stop_mode == "after_checkpoint":
                self._begin_stop("after checkpoint")  # training moved on: the save is done

    # Main ---------------------------------------------------------------------------------
    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

        def begin(s: JobStatus) -> None:
            s.runner_pid = os.getpid()
            s.runner_create_time = control.create_time(os.getpid())
            s.boot_time = control.boot_time()
            if s.state == JobState.QUEUED:
                s.state = JobState.STARTING
            s.started_at = s.started_at or time.time()

        st = update_status(self.dir, begin)
        self.started = st.started_at or time.time()
        if st.stop_request == "now" or st.state.final:
            return self.finish(None, JobState.STOPPED, "stopped before it started")
        self.emit(event("phase", phase="starting"))

        env = dict(os.environ)
        caller_path = env.pop("NYX_CALLER_PYTHONPATH", None)
        if caller_path is not None:  # undo launch_runner's addition of Nyx's own folder
            if caller_path:
                env["PYTHONPATH"] = caller_path
            else:
                env.pop("PYTHONPATH", None)
        env.update(self.spec.env)
        # unbuffered output, and rich records on one line instead of wrapped at 80 columns
        env.update(PYTHONUNBUFFERED="1", COLUMNS="200")
        import subprocess

        log = open(self.dir / "train.log", "ab", buffering=0)
        try:
            self.child = subprocess.Popen(
                self.spec.argv, cwd=self.spec.cwd or str(self.dir), env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True, bufsize=0,
            )
        except OSError as exc:
            log.close()
            return self.finish(None, JobState.FAILED, f"could not start the {self._what}: {exc}")

        child = self.child

        def running(s: JobStatus) -> None:
            s.child_pid = child.pid
            s.child_create_time = control.create_time(child.pid)
            s.child_pgid = child.pid  # start_new_session: the child leads its own group
            if s.state == JobState.STARTING:
                s.state = JobState.RUNNING

        update_status(self.dir, running)
        threading.Thread(target=self._pump, args=(child.stdout,), daemon=True).start()

        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        pending = ""
        flushed_partial = None
        last_data = time.monotonic()
        last_poll = 0.0
        last_status = 0.0
        eof = False
        exited_at = None
        while not eof:
            try:
                # wake often only while an unterminated line waits to be parsed (tqdm)
                kind, payload = self.q.get(timeout=POLL_S if pending != (flushed_partial or "") else IDLE_S)
            except _queue.Empty:
                kind, payload = "idle", None
            now = time.monotonic()
            if kind == "data":
                log.write(payload)
                last_data = now
                pending += decoder.decode(payload)
                parts = _SPLIT.split(pending)
                pending = parts.pop()
                for seg in parts:
                    if seg and seg == flushed_partial:
                        flushed_partial = None
                        continue  # already parsed while it was still the unterminated last line
                    flushed_partial = None
                    self.handle(self.parser.feed(seg))
            elif kind == "eof":
                eof = True
            elif kind == "signal":
                self.emit(event("stop", mode=self.stop_mode or "now", signal=payload))
            # tqdm terminates a bar update only with the *next* \r: parse the open line when quiet
            if pending and pending != flushed_partial and now - last_data >= 0.15:
                self.handle(self.parser.feed(pending))
                flushed_partial = pending
            if now - last_data >= 1.0:
                self.handle(self.parser.flush())
            if now - last_poll >= 1.0:
                last_poll = now
                self._poll_files()
            if now - last_status >= 0.5:
                last_status = now
                self._check_stop()
            if self._self_signal:
                self._request_stop_now(f"runner received {self._self_signal}")
                self._self_signal = None
            if time.monotonic() - self.last_emit >= _heartbeat_s():
                self.emit(event("heartbeat"))
            if child.poll() is not None:
                # The program exited but something it started still holds the output pipe open
                # (e.g. a dataloader worker): give it a moment, then end the group.
                exited_at = exited_at or now
                if now - exited_at > _leftover_s() and control.group_members(child.pid):
                    control.terminate_group(child.pid, (0.0, 2.0), start_with_sigint=False)

        rc = child.wait()
        tail = decoder.decode(b"", final=True)
        pending += tail
        if pending and pending != flushed_partial:
            self.handle(self.parser.feed(pending))
        self.handle(self.parser.flush())
        log.close()
        self._poll_files()
        # Grandchildren that outlived the leader (dataloader workers …) must not be left behind.
        if control.group_members(child.pid):
            control.terminate_group(child.pid, (0.0, 3.0), start_with_sigint=False)
        state, reason = self._judge(rc)
        return self.finish(rc, state, reason)

    def _pump(self, stream) -> None:
        fd = stream.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                self.eof_at = time.time()
                self.q.put(("eof", None))
                return
            self.q.put(("data", chunk))

    def _on_signal(self, signum, frame) -> None:  # noqa: ARG002
        self._self_signal = signal.Signals(signum).name

    # Stop ---------------------------------------------------------------------------------
    def _check_stop(self) -> None:
        from nyx_core.jobs.store import read_status

        try:
            st = read_status(self.dir)
        except Exception:
            return
        if st.stop_request and self.stop_mode != st.stop_request and not self.stop_started:
            self.stop_mode = st.stop_request
            if st.stop_request == "now":
                self._begin_stop("stop requested")
            else:
                self.emit(event("stop", mode="after_checkpoint", signal=None))
        if self.pending_ckpt and not self.stop_started:
            path, size, since = self.pending_ckpt
            try:
                now_size = os.path.getsize(path)
            except OSError:
                now_size = -1
            if now_size > 0 and now_size == size and time.monotonic() - since >= 1.0:
                self._begin_stop("checkpoint saved")
            elif now_size != size:
                self.pending_ckpt = (path, now_size, time.monotonic())

    def _request_stop_now(self, why: str) -> None:
        def req(s: JobStatus) -> None:
            s.stop_request = "now"
            s.stop_requested_at = s.stop_requested_at or time.time()

        update_status(self.dir, req)
        self.stop_mode = "now"
        self._begin_stop(why)

    def _begin_stop(self, why: str) -> None:  # noqa: ARG002
        if self.stop_started or self.child is None:
            return
        self.stop_started = True

        def stopping(s: JobStatus) -> None:
            if not s.state.final:
                s.state = JobState.STOPPING

        update_status(self.dir, stopping)
        pgid = self.child.pid

        def kill() -> None:
            control.terminate_group(
                pgid, tuple(self.spec.stop_grace_s),
                on_signal=lambda name: (self.stop_signals.append(name), self.q.put(("signal", name))),
            )

        threading.Thread(target=kill, daemon=True).start()

    # Files --------------------------------------------------------------------------------
    def _poll_files(self) -> None:
        if self.tb is not None:
            scalars = self.tb.poll()
            by_step: dict[int, dict[str, float]] = {}
            for s in scalars:
                # TB stores float32: 7 significant digits keep every bit that was there
                by_step.setdefault(s.step, {})[s.tag] = float(f"{s.value:.7g}")
            for step in sorted(by_step):
                values = by_step[step]
                lr_tag = "lr/unet" if "lr/unet" in values else next((t for t in values if t.startswith("lr/")), None)
                loss = values.pop("loss/current", None)
                lr = values.pop(lr_tag) if lr_tag else None
                # field order is part of the format: readers take a fast path on it (reader.py)
                self.series_fh.write(series_record(step, loss, lr))
                self.emit(event("metric", step=step, loss=loss, lr=lr, lr_tag=lr_tag, values=values))
        if self.spec.output_dir:
            sample_dir = Path(self.spec.output_dir) / "sample"
            if sample_dir.is_dir():
                for p in sorted(sample_dir.iterdir()):
                    if p.name in self.seen_samples or p.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
                        continue
                    self.seen_samples.add(p.name)
                    m = _SAMPLE_E.search(p.name)
                    if m:
                        self.emit(event("sample", path=str(p), epoch=int(m.group(1)), prompt=int(m.group(2)),
                                        step=None))
                        continue
                    m = _SAMPLE_S.search(p.name)
                    self.emit(event("sample", path=str(p), epoch=None,
                                    prompt=int(m.group(2)) if m else None, step=int(m.group(1)) if m else None))

    # End ----------------------------------------------------------------------------------
    def _judge(self, rc: int) -> tuple[JobState, str | None]:
        expected = Path(self.spec.expected_output) if self.spec.expected_output else None
        # A LoRA left by an earlier run of the same config is no evidence for this one.
        have_output = expected is None or (expected.is_file() and expected.stat().st_mtime >= self.started - 2)
        if self.stop_mode and self.stop_started:
            if rc == 0 and have_output and self.parser.steps_seen and self.parser.total and \
                    self.parser.last_step >= self.parser.total:
                return JobState.COMPLETED, None  # it finished before the stop took effect
            ckpts = self.parser.checkpoints
            saved = f" Last checkpoint: {ckpts[-1]}" if ckpts else " No checkpoint was saved."
            how = " (after escalating to " + ", ".join(self.stop_signals) + ")" if len(self.stop_signals) > 1 else ""
            return JobState.STOPPED, f"stopped on request{how}.{saved}"
        if rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = f"signal {-rc}"
            hint = " (out of memory? the kernel's OOM killer uses SIGKILL)" if -rc == signal.SIGKILL else ""
            return JobState.FAILED, f"the {self._what} was killed by {name}{hint}"
        if rc != 0:
            msg = self._error_message() or "see the log"
            return JobState.FAILED, f"exited with code {rc}: {msg}"
        if not have_output:
            msg = self._error_message()
            why = f" Last error: {msg}" if msg else ""
            return JobState.FAILED, f"exited with code 0 but wrote no {'LoRA' if self.spec.kind == 'train' else 'output'} ({expected}).{why}"
        if self.spec.kind == "train" and not self.parser.steps_seen:
            return JobState.FAILED, "exited with code 0 but no training step was seen in its output"
        return JobState.COMPLETED, None

    def _error_message(self) -> str | None:
        errs = [e for e in self.parser.errors if "CalledProcessError" not in e["message"]]
        errs = errs or self.parser.errors
        return errs[-1]["message"] if errs else None

    def finish(self, rc: int | None, state: JobState, reason: str | None) -> int:
        ended = time.time()
        err_lines: list[str] = []
        if state != JobState.COMPLETED:
            errs = self.parser.errors
            err_lines = errs[-1]["lines"][-15:] if errs else tail_lines(self.dir / "train.log", 15)

        t = os.times()
        cpu = round(_PRE_FORK_CPU + t.user + t.system, 3)

        def end(s: JobStatus) -> None:
            s.child_ended_at = self.eof_at
            s.runner_cpu_s = cpu
            s.state = state
            s.exit_code = rc
            s.ended_at = ended
            s.reason = reason
            s.error_lines = err_lines

        # One order, events first and status last: a reader that sees a final status.json finds
        # the whole record (the webhook's outcome, then `end`) already in progress.jsonl. A runner
        # killed in between leaves `end` without a final status; reconcile then takes the state
        # from that `end` event instead of appending a second one.
        started = self.started
        self.emit(event("phase", phase="finished"))
        self._notify(state, ended - started)
        self.emit(event("end", state=state.value, exit_code=rc, duration_s=round(ended - started, 3), reason=reason))
        update_status(self.dir, end)
        self.events_fh.close()
        self.series_fh.close()
        try:
            self.store.start_next()
        except Exception as exc:  # the queue must not make a finished job look failed
            print(f"nyx runner: could not start the next queued job: {exc}", file=sys.stderr)
        return 0

    def crashed(self, exc: BaseException) -> int:
        """The runner itself failed: stop the program's group and record why."""
        if self.child is not None and control.group_members(self.child.pid):
            control.terminate_group(self.child.pid, (5.0, 5.0))
        try:
            rc = self.child.poll() if self.child is not None else None
            return self.finish(rc, JobState.FAILED, f"the Nyx runner failed: {type(exc).__name__}: {exc}")
        except Exception:
            return 1

    def _notify(self, state: JobState, duration: float) -> None:
        try:
            from nyx_core.settings import Settings

            url = Settings.load(self.dir.parent.parent).webhook_url
        except Exception:
            url = os.environ.get("NYX_WEBHOOK_URL", "")
        if not url:
            return
        from nyx_core.jobs.notify import send

        ok, message = send(str(url), job_id=self.job.id, name=self.job.name, state=state.value, duration_s=duration)
        self.emit(event("notify", ok=ok, message=message))
        if not ok:
            with open(self.dir / "runner.log", "a", encoding="utf-8") as fh:
                fh.write(f"[nyx] webhook notification failed (ignored): {message}\n")


if __name__ == "__main__":
    sys.exit(main())
