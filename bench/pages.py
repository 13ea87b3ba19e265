"""Page speed in a real browser: `python bench/pages.py [--workspace DIR] [--runs N]`.

What a user sees, on the workspace issue 15 names: 20 datasets x 500 images (with captions),
30 configs and 200 finished runs (each with 1,000 progress events), built once into DIR (reused
when it already holds them). It starts `streamlit run app.py` on a free loopback port against that
workspace, drives Debian's chromium with Playwright through every page of app.py twice (first
visit: a fresh page load by URL on a fresh server; second visit: a click on the sidebar link) and
through five common actions, and prints per page/action. The walk's browser is a returning one
(Streamlit's own script files are in its cache, as after any earlier visit to the same address);
the first row is Home loaded by a browser that has never seen the app, on another fresh server.

- title: navigation start -> the page's title is visible (first useful content)
- done: navigation start (or the click) -> the last message of the script run reached the browser
  and the page says it is no longer running (the whole page has arrived)
- server RSS after it, and the server's CPU seconds spent on it (the server's background warm-up
  included: it runs between pages)

With --runs N it walks N times, each on a fresh server, and prints each figure's median: on a
shared machine, compare medians taken at a similar load average (printed at the top).

Goals (issue 15): every page's title < 1 s, first visit included; server RSS <= 120 MB idle and
<= 250 MB after every page. Nothing here is a test: timings depend on the machine and its load.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

N_DATASETS, N_IMAGES, N_CONFIGS, N_RUNS, N_EVENTS = 20, 500, 30, 200, 1000
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
VOCAB = [f"tag{i}" for i in range(300)] + ["1girl", "solo", "smile", "outdoors", "blue eyes"]


# -- the workspace -------------------------------------------------------------------------------
def build_workspace(root: Path) -> None:
    marker = root / ".bench-pages.json"
    want = {"datasets": N_DATASETS, "images": N_IMAGES, "configs": N_CONFIGS, "runs": N_RUNS}
    if marker.is_file() and json.loads(marker.read_text()) == want:
        return
    from PIL import Image

    from nyx_core.config import new_config, save_config
    from nyx_core.datasets.manager import create_dataset
    from nyx_core.workspace import Workspace

    ws = Workspace.open(root)
    rng = random.Random(7)
    t = time.perf_counter()
    sizes = [(512, 512), (512, 768), (768, 512), (640, 640)]
    blobs = []
    for i, size in enumerate(sizes):  # a few distinct JPEGs, copied: building must not take minutes
        buf = io.BytesIO()
        Image.new("RGB", size, (40 * i, 90, 160)).save(buf, "JPEG", quality=85)
        blobs.append(buf.getvalue())
    for d in range(N_DATASETS):
        name = f"set{d:02d}"
        if (ws.datasets / name).is_dir():
            continue
        layout = create_dataset(ws, name, "subject", repeats=10)
        folder = layout.concepts[0].folder
        for n in range(N_IMAGES):
            (folder / f"img{n:04d}.jpg").write_bytes(blobs[n % len(blobs)])
            (folder / f"img{n:04d}.txt").write_text(", ".join(rng.sample(VOCAB, rng.randint(6, 25))))
    print(f"  datasets built in {time.perf_counter() - t:.1f} s", flush=True)
    for c in range(N_CONFIGS):
        path = ws.configs / f"cfg{c:02d}.toml"
        if not path.is_file():
            cfg = new_config(f"cfg{c:02d}", ["sd15", "sdxl", "flux", "sd3"][c % 4],
                             dataset={"name": f"set{c % N_DATASETS:02d}"})
            save_config(cfg, path)
    _build_runs(ws)
    marker.write_text(json.dumps(want))


def _build_runs(ws) -> None:  # noqa: ANN001 - Workspace
    """Finished runs as the runner leaves them: status.json, job.json, progress.jsonl with a
    summary, 1,000 step and metric events, checkpoints and the end event."""
    from nyx_core.jobs.models import JobSpec, JobState, event
    from nyx_core.jobs.store import JobStore, update_status

    store = JobStore(ws.root / "jobs")
    have = len(store.ids())
    t0 = time.time() - 86_400 * 30
    for r in range(have, N_RUNS):
        out = ws.outputs / f"run{r:03d}"
        out.mkdir(parents=True, exist_ok=True)
        spec = JobSpec(argv=["true"], expected_output=str(out / f"run{r:03d}.safetensors"), output_dir=str(out))
        job = store.create(f"run{r:03d}", spec)
        start = t0 + r * 3600
        lines = [event("phase", t=start, phase="training"),
                 event("summary", t=start, total=N_EVENTS, epochs=10, images=500, batches_per_epoch=100)]
        loss = 0.15
        for s in range(1, N_EVENTS + 1):
            loss = max(0.02, loss + random.uniform(-0.004, 0.0038))
            lines.append(event("step", t=start + s, step=s, total=N_EVENTS, epoch=(s - 1) // 100 + 1, epochs=10,
                               it_per_s=1.0, elapsed_s=float(s), eta_s=float(N_EVENTS - s), avr_loss=round(loss, 4)))
            lines.append(event("metric", t=start + s, step=s, loss=round(loss, 4), lr=1e-4, lr_tag="lr/unet",
                               values={}))
        lines.append(event("checkpoint", t=start + N_EVENTS, path=spec.expected_output, final=True))
        lines.append(event("end", t=start + N_EVENTS, state="completed", exit_code=0,
                           duration_s=float(N_EVENTS), reason=None))
        with open(job.dir / "progress.jsonl", "a", encoding="utf-8") as fh:
            fh.write("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in lines))
        Path(spec.expected_output).write_bytes(b"\0" * 1024)

        def done(s, start=start) -> None:  # noqa: ANN001
            s.state = JobState.COMPLETED
            s.started_at, s.ended_at, s.exit_code = start, start + N_EVENTS, 0

        update_status(job.dir, done)


# -- the server ----------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workspace: Path, log: Path, port: int | None = None) -> tuple[subprocess.Popen, str]:
    port = port or _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("NYX_PASSWORD", "HF_TOKEN", "CIVITAI_TOKEN")}
    env.update(NYX_WORKSPACE=str(workspace), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=REPO, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.3)
    raise SystemExit("streamlit did not start; see " + str(log))


def server_usage(proc: subprocess.Popen) -> tuple[float, float]:
    """(RSS MB, CPU seconds) of the server process."""
    import psutil

    p = psutil.Process(proc.pid)
    cpu = p.cpu_times()
    return p.memory_info().rss / 2**20, cpu.user + cpu.system


def pages_of_app() -> list[tuple[str, str, str]]:
    """(url path, navigation label, heading) for every page registered in app.py, Home first."""
    text = (REPO / "app.py").read_text()
    out = []
    for m in re.finditer(r'st\.Page\("(?P<file>[^"]+)",\s*title="(?P<title>[^"]+)"(?P<rest>[^)]*)\)', text):
        url = re.search(r'url_path="([^"]+)"', m.group("rest"))
        heading = _page_heading(REPO / m.group("file")) or m.group("title")
        out.append(("" if "default=True" in m.group("rest") else (url.group(1) if url else ""), m.group("title"),
                    heading))
    return out


def _page_heading(path: Path) -> str | None:
    m = re.search(r'st\.title\("([^"]+)"', path.read_text()) if path.is_file() else None
    return m.group(1) if m else None


#: Installed in every page before it loads: counts websocket messages (with the time of the last)
#: and the script runs the page has seen finish (Streamlit marks its root with the run state).
#: A run so quick that its "running" state is never drawn is still seen through its messages.
WATCH = """
window.__nyx = {doc: Math.random(), runs: 0, frames: 0, last: 0};
const NativeWebSocket = window.WebSocket;
window.WebSocket = class extends NativeWebSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener('message', () => { window.__nyx.frames += 1; window.__nyx.last = performance.now(); });
  }
};
new MutationObserver((records) => {
  for (const r of records) {
    if (r.target.getAttribute('data-test-script-state') === 'notRunning') window.__nyx.runs += 1;
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-test-script-state']});
"""
_DONE = """(m) => {
  const n = window.__nyx;
  const app = document.querySelector('[data-testid="stApp"]');
  if (!n || !app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const same = m !== null && n.doc === m.doc;
  const runs = n.runs - (same ? m.runs : 0), frames = n.frames - (same ? m.frames : 0);
  return frames > 0 && (runs > 0 || performance.now() - n.last > 300);
}"""


def _mark(pg) -> dict | None:  # noqa: ANN001 - playwright Page
    """Where the page's counters stand before an action (None on a page without them)."""
    return pg.evaluate("() => window.__nyx ? {...window.__nyx, t: performance.now()} : null")


def _idle(pg, mark: dict | None = None) -> float:  # noqa: ANN001 - playwright Page
    """Wait until the script run the action started has finished (the server's messages came, and
    the page says it is not running); return seconds from the action to the server's last message.
    Not the status widget: it shows only after a delay, so a check made earlier calls a running
    page done, and a quick run never shows "running" at all."""
    pg.wait_for_function(_DONE, arg=mark, timeout=60_000)
    now = pg.evaluate("() => [window.__nyx.doc, window.__nyx.last]")
    start = mark["t"] if mark is not None and mark["doc"] == now[0] else 0.0  # a new page counts from its load
    return (now[1] - start) / 1000


def _drawn(pg) -> None:  # noqa: ANN001 - playwright Page
    """Wait until the browser has nothing left to draw (its main thread goes idle, twice)."""
    for _ in range(2):
        pg.evaluate("() => new Promise(r => requestIdleCallback(() => r(), {timeout: 10000}))")


def visit(pg, url: str, title: str, nav_label: str | None = None) -> tuple[float, float]:  # noqa: ANN001
    """A fresh page load of ``url``; or, with ``nav_label``, a click on that sidebar link (how a
    user moves between pages once the app is open)."""
    mark = _mark(pg)
    t = time.perf_counter()
    if nav_label is None:
        pg.goto(url, wait_until="commit")
    else:
        pg.locator('[data-testid="stSidebarNav"] a', has_text=nav_label).first.click()
    pg.get_by_role("heading", name=title, exact=False).first.wait_for(state="visible", timeout=60_000)
    t_title = time.perf_counter() - t
    return t_title, max(t_title, _idle(pg, mark))


# -- actions (best effort: a page that changed its widgets prints n/a, never aborts) ---------------
def _act(pg, fn) -> float | None:  # noqa: ANN001
    try:
        mark = _mark(pg)
        fn()
        return _idle(pg, mark)
    except Exception as exc:  # noqa: BLE001 - a benchmark reports, it does not stop
        print(f"    ({type(exc).__name__}: {str(exc).splitlines()[0][:100]})")
        return None


def actions(pg, base: str) -> dict[str, float | None]:  # noqa: ANN001
    res: dict[str, float | None] = {}
    pg.goto(base + "/datasets")
    _idle(pg)
    _drawn(pg)  # a user clicks once the page is drawn
    res["Datasets: open another dataset"] = _act(pg, lambda: (
        pg.get_by_test_id("stSelectbox").first.click(), pg.get_by_role("option", name="set07").click()))
    res["Datasets: run the health check"] = _act(pg, lambda: pg.get_by_role(
        "button", name=re.compile("health", re.I)).first.click())
    res["Datasets: next gallery page"] = _act(pg, lambda: (  # the gallery's "Page (of N)" number input
        pg.get_by_label(re.compile(r"^Page \(of")).first.fill("2"), pg.keyboard.press("Enter")))
    pg.goto(base + "/training")
    _idle(pg)
    _drawn(pg)
    res["Training: switch config"] = _act(pg, lambda: (
        pg.get_by_test_id("stSelectbox").first.click(), pg.get_by_role("option", name=re.compile("cfg07")).click()))
    pg.goto(base + "/monitor")
    _idle(pg)
    _drawn(pg)
    res["Monitor: open another run"] = _act(pg, lambda: (
        pg.get_by_test_id("stSelectbox").nth(1).click(), pg.get_by_role("option").nth(5).click()))  # "Run"
    return res


def walk(workspace: Path) -> tuple[tuple[float, float, float], list[tuple[str, float, float, float, float]],
                                   dict[str, float | None]]:
    """One fresh server, every page twice, then the actions: (RSS at start, idle, end), page rows, actions."""
    log = Path(tempfile.gettempdir()) / "nyx-bench-pages-server.log"
    from playwright.sync_api import sync_playwright

    rows: list[tuple[str, float, float, float, float]] = []
    port = _free_port()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--headless"])
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        ctx.add_init_script(WATCH)
        pg = ctx.new_page()
        pg.set_default_timeout(60_000)
        # A browser that has never seen the app first downloads Streamlit's own ~60 script files;
        # a returning one has them cached (same address: a reload, a restarted server, a new tab).
        # Both are measured on a fresh server; the walk below is the returning browser's.
        home = pages_of_app()[0]
        proc, base = start_server(workspace, log, port)
        try:
            _, cpu0 = server_usage(proc)
            t_title, t_done = visit(pg, f"{base}/{home[0]}", home[2])
            rss, cpu1 = server_usage(proc)
            rows.append((f"{home[2]} (first, new browser)", t_title, t_done, rss, cpu1 - cpu0))
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(30)
        proc, base = start_server(workspace, log, port)
        rss0, _ = server_usage(proc)
        try:
            time.sleep(1.0)
            rss_idle, _ = server_usage(proc)
            for visit_no in (1, 2):
                for path, label, title in pages_of_app():
                    _, cpu0 = server_usage(proc)
                    try:
                        t_title, t_done = visit(pg, f"{base}/{path}", title, label if visit_no == 2 else None)
                    except Exception:
                        print(f"  ({label}, visit {visit_no}: the page did not finish; server log: {log})")
                        raise
                    rss, cpu1 = server_usage(proc)
                    rows.append((f"{title} ({'first' if visit_no == 1 else 'second'})", t_title, t_done, rss,
                                 cpu1 - cpu0))
                    _drawn(pg)  # a user looks at a page before moving on: the next click finds the browser free
            acts = actions(pg, base)
            rss_end, _ = server_usage(proc)
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(30)
        browser.close()
    return (rss0, rss_idle, rss_end), rows, acts


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", type=Path, default=Path(tempfile.gettempdir()) / "nyx-bench-pages")
    ap.add_argument("--keep", action="store_true", help="keep the workspace for the next run (default)")
    ap.add_argument("--runs", type=int, default=1,
                    help="walks, each on a fresh server; the table shows each figure's median (a shared machine)")
    args = ap.parse_args()
    print(f"workspace {args.workspace} ({N_DATASETS} datasets x {N_IMAGES} images, {N_CONFIGS} configs, "
          f"{N_RUNS} finished runs); machine: {os.cpu_count()} CPUs", flush=True)
    build_workspace(args.workspace)
    load0 = os.getloadavg()
    walks = []
    for n in range(max(1, args.runs)):
        walks.append(walk(args.workspace))
        if args.runs > 1:
            print(f"  walk {n + 1}/{args.runs} done", flush=True)
    load1 = os.getloadavg()
    rss0, rss_idle, rss_end = (_median([w[0][i] for w in walks]) for i in range(3))
    print(f"\nload average (1 min) {load0[0]:.2f} before, {load1[0]:.2f} after"
          + (f"; medians of {len(walks)} walks" if len(walks) > 1 else ""))
    print(f"server RSS: {rss0:.0f} MB at start, {rss_idle:.0f} MB idle with a browser attached, "
          f"{rss_end:.0f} MB after everything")
    print(f"\n{'page (visit)':<34}{'title':>8}{'done':>8}{'RSS MB':>9}{'CPU s':>8}")
    for i, (name, *_rest) in enumerate(walks[0][1]):
        t1, t2, rss, cpu = (_median([w[1][i][k] for w in walks]) for k in range(1, 5))
        flag = "" if t1 < 1.0 else "  > 1 s"
        print(f"{name:<34}{t1:>7.2f}s{t2:>7.2f}s{rss:>9.0f}{cpu:>8.2f}{flag}")
    print(f"\n{'action':<40}{'done':>8}")
    for name in walks[0][2]:
        got = [w[2][name] for w in walks if w[2].get(name) is not None]
        print(f"{name:<40}{(f'{_median(got):.2f}s' if got else 'n/a'):>8}")


if __name__ == "__main__":
    main()
