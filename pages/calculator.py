"""Step calculator: how many optimisation steps sd-scripts will run, without writing a config first.

Thin view over nyx_core.steps: inputs -> DatasetPlan/TrainingPlan -> compute_steps -> numbers, buckets,
warnings. Plain widgets (no form) so every change recomputes at once.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from nyx_core.buckets import BucketSpec, check_reso_steps
from nyx_core.config.families import FAMILIES
from nyx_core.errors import NyxError
from nyx_core.steps import (
    DatasetPlan,
    SubsetPlan,
    TrainingPlan,
    compute_steps,
    estimate_time,
    format_duration,
    plan_from_folders,
    simple_plan,
    speeds_from_jobs,
)
from nyx_ui.context import get_workspace
from nyx_ui.tables import frame

st.title("Step calculator")
st.caption(
    "The exact number of optimisation steps sd-scripts will run, counted the way it counts them: "
    "images × repeats grouped into buckets, batches per bucket, gradient accumulation, GPUs."
)


@st.cache_data(show_spinner="Reading image sizes…", max_entries=16)
def _dataset_subsets(root: str, stamp: tuple[float, ...]) -> list[SubsetPlan]:
    # `stamp` (folder mtimes) is only a cache key: adding or removing images changes it
    return plan_from_folders(Path(root))


def _folder_stamp(root: Path) -> tuple[float, ...]:
    return tuple(p.stat().st_mtime for p in sorted(root.iterdir()) if p.is_dir()) + (root.stat().st_mtime,)


def _workspace_datasets() -> dict[str, Path]:
    try:
        ws = get_workspace()
        return {p.name: p for p in sorted(ws.datasets.iterdir(), key=lambda p: p.name.lower())
                if p.is_dir() and not p.name.startswith(".")}
    except (OSError, NyxError):
        return {}


def _past_speeds() -> list[tuple[str, float]]:
    try:
        return speeds_from_jobs(get_workspace().jobs)
    except (OSError, NyxError):
        return []


# family -> (resolution, min bucket, max bucket): the sizes each family is usually trained at (the family table)
FAMILY_DEFAULTS = {s.short: (s.resolution, s.min_bucket, s.max_bucket) for s in FAMILIES.values()}
FAMILY_SCRIPT = {s.short: s.family.value for s in FAMILIES.values()}


def _apply_family() -> None:
    res, lo, hi = FAMILY_DEFAULTS[st.session_state["calc_family"]]
    st.session_state["calc_resolution"] = res
    st.session_state["calc_min_reso"] = lo
    st.session_state["calc_max_reso"] = hi


# ------------------------------------------------------------------------------------------ images
st.subheader("1 · Images")
datasets = _workspace_datasets()
source = st.radio(
    "Count from",
    ["Number of images", "A workspace dataset"],
    horizontal=True,
    key="calc_source",
    help="A workspace dataset reads each image's size, so buckets and per-bucket batches are exact.",
)

subsets: list[SubsetPlan] = []
bucket = BucketSpec(resolution=(512, 512), enable=False)
use_dataset = source == "A workspace dataset"

if use_dataset and not datasets:
    st.info("No datasets in the workspace yet; create one on the Datasets page, or count by number of images.")
    use_dataset = False

c1, c2 = st.columns(2)
if use_dataset:
    name = c1.selectbox("Dataset", list(datasets), key="calc_dataset")
    root = datasets[name]
    try:
        subsets = _dataset_subsets(str(root), _folder_stamp(root))
    except (OSError, NyxError) as exc:
        st.error(str(exc))
        subsets = []
    if not subsets:
        st.warning(f"{name} has no `<repeats>_<concept>` folders with images, so sd-scripts would find nothing.")
    else:
        st.dataframe(
            frame([{"concept": s.name, "images": len(s.image_sizes), "repeats": s.num_repeats,
                           "images × repeats": len(s.image_sizes) * s.num_repeats} for s in subsets]),
            hide_index=True,
        )
        st.caption("Repeats come from the folder names (`10_ohwx woman` → 10); rename a folder to change them.")
    family = c2.selectbox("Model family", list(FAMILY_DEFAULTS), key="calc_family", on_change=_apply_family,
                          help="Sets the usual resolution and bucket range; change them below if you train otherwise.")
    resolution = c1.number_input("Resolution", 64, 4096, 512, 64, key="calc_resolution")
    enable = st.toggle("Aspect-ratio bucketing", value=True, key="calc_bucket")
    if enable:
        b1, b2, b3, b4 = st.columns(4)
        lo = b1.number_input("Min bucket resolution", 64, 4096, 256, 64, key="calc_min_reso")
        hi = b2.number_input("Max bucket resolution", 64, 8192, 1024, 64, key="calc_max_reso")
        step = b3.selectbox("Bucket step", [64, 32], key="calc_reso_steps",
                            help="SD1.5 and Flux need a multiple of 64; SDXL and SD3.5 accept 32.")
        no_up = b4.checkbox("Don't upscale", value=False, key="calc_no_upscale")
        bucket = BucketSpec((int(resolution), int(resolution)), enable=True, min_reso=int(lo), max_reso=int(hi),
                            reso_steps=int(step), no_upscale=no_up)
        step_problem = check_reso_steps(bucket, FAMILY_SCRIPT[family])
        if step_problem:
            st.error(step_problem + " (sd-scripts refuses to start).")
    else:
        bucket = BucketSpec((int(resolution), int(resolution)), enable=False)
else:
    n_images = c1.number_input("Number of images", 0, 1_000_000, 20, 1, key="calc_images")
    repeats = c2.number_input("Repeats", 1, 10_000, 10, 1, key="calc_repeats",
                              help="How often each image is seen per epoch (the number in `10_concept`).")

# ---------------------------------------------------------------------------------------- training
st.subheader("2 · Training")
length_mode = st.radio("Length given as", ["Epochs", "Steps"], horizontal=True, key="calc_mode")
t1, t2, t3, t4 = st.columns(4)
if length_mode == "Epochs":
    epochs = t1.number_input("Epochs", 1, 100_000, 10, 1, key="calc_epochs")
    training_kw = {"max_train_epochs": int(epochs)}
else:
    steps = t1.number_input("Steps", 1, 10_000_000, 1600, 100, key="calc_steps")
    training_kw = {"max_train_steps": int(steps)}
batch = t2.number_input("Batch size", 1, 1024, 1, 1, key="calc_batch")
accum = t3.number_input("Gradient accumulation", 1, 1024, 1, 1, key="calc_accum")
gpus = t4.number_input("GPUs", 1, 64, 1, 1, key="calc_gpus")
past = _past_speeds()
TYPED = "Type seconds per step"
speed_src = TYPED
if past:
    speed_src = st.selectbox("Speed for the time estimate", [TYPED] + [f"{jid} · {s:.2f} s/step" for jid, s in past],
                             key="calc_speed_src", help="Past runs in this workspace, newest first.")
if speed_src == TYPED:
    spi = st.number_input(
        "Seconds per step (optional)", 0.0, 3600.0, 0.0, 0.1, key="calc_spi", format="%.2f",
        help="From a past run's progress bar (s/it), to estimate the duration. 0 = no estimate.",
    )
else:
    spi = past[[f"{jid} · {s:.2f} s/step" for jid, s in past].index(speed_src)][1]

# ----------------------------------------------------------------------------------------- results
if use_dataset:
    plan = DatasetPlan(subsets=subsets, batch_size=int(batch), bucket=bucket)
else:
    plan = simple_plan(int(n_images), repeats=int(repeats), batch_size=int(batch))
training = TrainingPlan(gradient_accumulation_steps=int(accum), num_processes=int(gpus), **training_kw)

st.subheader("3 · Result")
try:
    report = compute_steps([plan], training)
except NyxError as exc:
    st.error(str(exc))
    st.stop()

m1, m2, m3, m4 = st.columns(4)
m1.metric("Total optimisation steps", f"{report.total_optimization_steps:,}")
m2.metric("Steps per epoch", f"{report.num_update_steps_per_epoch:,}")
m3.metric("Epochs", f"{report.num_epochs:,}")
m4.metric("Images × repeats", f"{report.num_train_images_x_repeats:,}")
st.caption(
    f"{report.num_batches_per_epoch:,} batches per epoch"
    + (" per GPU" if report.num_processes > 1 else "")
    + f" · batch size {report.batch_size_per_device[0]} · gradient accumulation {report.gradient_accumulation_steps}"
)
if spi > 0:
    total_s = estimate_time(report.total_optimization_steps, spi)
    epoch_s = estimate_time(report.num_update_steps_per_epoch, spi)
    st.metric("Estimated training time", format_duration(total_s), help=f"about {format_duration(epoch_s)} per epoch")

for warning in report.warnings:
    st.warning(str(warning))

ds = report.datasets[0] if report.datasets else None
if ds is not None and ds.buckets:
    st.markdown("**Buckets**" + ("" if ds.enable_bucket else " (bucketing off: one size)"))
    st.dataframe(
        frame([{"resolution": f"{r.resolution[0]}×{r.resolution[1]}", "images × repeats": r.count,
                       "batches": r.batches} for r in ds.buckets]),
        hide_index=True,
    )

if ds is not None and use_dataset and ds.image_buckets:
    with st.expander("Which image sizes go to which bucket"):
        st.dataframe(
            frame([{"image size": f"{r.size[0]}×{r.size[1]}", "images": r.images,
                           "reg": "yes" if r.is_reg else "", "repeats": r.num_repeats,
                           "resized to": f"{r.resized_size[0]}×{r.resized_size[1]}",
                           "bucket": f"{r.bucket[0]}×{r.bucket[1]}"} for r in ds.image_buckets]),
            hide_index=True,
        )
        if ds.mean_ar_error is not None:
            st.caption(f"Mean aspect-ratio error (what sd-scripts prints as 'mean ar error'): {ds.mean_ar_error:.4f}")

with st.expander("How this is computed"):
    st.markdown(
        """
- Each image goes into one bucket (its resolution after resizing); a bucket's count includes repeats.
- **batches per epoch** = Σ over buckets of ⌈count ÷ batch size⌉ — batches never mix buckets, so
  small buckets add short batches. With several GPUs each one gets ⌈batches ÷ GPUs⌉.
- **steps per epoch** = ⌈batches per GPU ÷ gradient accumulation⌉.
- Given **epochs**: total steps = epochs × ⌈batches ÷ GPUs ÷ accumulation⌉ (sd-scripts prints an
  "override steps" line). Given **steps**: epochs = ⌈steps ÷ steps per epoch⌉.
- With neither, sd-scripts runs **1600 steps** — Nyx always writes one of them.
- Regularisation images are repeated until they match images × repeats and add to the batches.

Checked against 26 cases computed by real sd-scripts (9 confirmed by real training runs); see
`docs/steps.md`. From a notebook: `from nyx_core.steps import compute_steps, simple_plan, TrainingPlan`.
"""
    )
