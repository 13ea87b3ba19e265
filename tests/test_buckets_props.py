"""Property tests: the bucket choice equals a numpy argmin reference (sd-scripts' own formulation),
and the step arithmetic keeps its invariants for arbitrary layouts."""
from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nyx_core.buckets import BucketError, BucketSpec, assign, predefined_buckets
from nyx_core.steps import DatasetPlan, SubsetPlan, TrainingPlan, compute_steps

sizes = st.tuples(st.integers(16, 8000), st.integers(16, 8000))


@st.composite
def specs(draw, no_upscale=None):
    step = draw(st.sampled_from([32, 64]))
    res = draw(st.sampled_from([256, 512, 768, 1024]))
    lo = draw(st.integers(64, res))
    hi = draw(st.integers(res, 2 * res + 100))
    nu = draw(st.booleans()) if no_upscale is None else no_upscale
    spec = BucketSpec((res, res), min_reso=lo, max_reso=hi, reso_steps=step, no_upscale=nu)
    return spec


def _reference(spec: BucketSpec, size: tuple[int, int]):
    """The upscale path as sd-scripts writes it: numpy arrays and argmin."""
    resos = predefined_buckets(spec)
    w, h = size
    ar = w / h
    if (w, h) in set(resos):
        reso = (w, h)
    else:
        ratios = np.array([a / b for a, b in resos])
        reso = resos[int(np.abs(ratios - ar).argmin())]
    scale = reso[1] / h if ar > reso[0] / reso[1] else reso[0] / w
    return reso, (int(w * scale + 0.5), int(h * scale + 0.5))


@settings(max_examples=300, deadline=None)
@given(specs(no_upscale=False), sizes)
def test_bucket_choice_matches_numpy_argmin(spec, size):
    assert assign(spec, size) == _reference(spec, size)


@settings(max_examples=300, deadline=None)
@given(specs(no_upscale=False), sizes)
def test_resized_image_covers_its_bucket(spec, size):
    bucket, resized = assign(spec, size)
    assert resized[0] >= bucket[0] and resized[1] >= bucket[1]
    assert bucket[0] * bucket[1] <= spec.resolution[0] * spec.resolution[1] or bucket == size


@settings(max_examples=300, deadline=None)
@given(specs(no_upscale=True), sizes)
def test_no_upscale_never_enlarges(spec, size):
    try:
        bucket, resized = assign(spec, size)
    except BucketError as exc:  # a side would round to 0 px: refused with a message, never a crash
        assert "too thin" in str(exc)
        return
    step = spec.reso_steps
    assert bucket[0] % step == 0 and bucket[1] % step == 0
    assert bucket[0] <= resized[0] <= max(size[0], resized[0]) and bucket[1] <= resized[1]
    if size[0] * size[1] <= spec.resolution[0] * spec.resolution[1]:
        assert resized == size


layouts = st.lists(
    st.tuples(st.lists(sizes, min_size=0, max_size=12), st.integers(0, 6), st.booleans()), min_size=1, max_size=4
)


@settings(max_examples=200, deadline=None)
@given(layouts, st.integers(1, 8), st.integers(1, 4), st.integers(1, 3), st.integers(1, 20), st.booleans())
def test_step_invariants(layout, batch, accum, gpus, length, by_epochs):
    plan = DatasetPlan([SubsetPlan(s, r, reg) for s, r, reg in layout], batch_size=batch,
                       bucket=BucketSpec((512, 512)))
    training = TrainingPlan(max_train_epochs=length if by_epochs else None,
                            max_train_steps=None if by_epochs else length,
                            gradient_accumulation_steps=accum, num_processes=gpus)
    rep = compute_steps([plan], training)
    train = sum(len(s) * r for s, r, reg in layout if not reg and r >= 1)
    assert rep.num_train_images_x_repeats == train
    if train == 0:
        assert rep.total_optimization_steps == 0
        return
    ds = rep.datasets[0]
    counted = sum(b.count for b in ds.buckets)
    reg_repeats = [r for s, r, reg in layout if reg and r >= 1 and s]
    if reg_repeats:
        # reg images are repeated up to the train count; one subset's repeats may overshoot it
        assert 2 * train <= counted < 2 * train + max(reg_repeats)
    else:
        assert counted == train
    assert ds.num_batches == sum(math.ceil(b.count / batch) for b in ds.buckets)
    assert rep.num_batches_per_epoch == math.ceil(ds.num_batches / gpus)
    assert rep.num_update_steps_per_epoch == math.ceil(rep.num_batches_per_epoch / accum)
    if by_epochs:
        assert rep.num_epochs == length
        assert rep.total_optimization_steps == length * rep.num_update_steps_per_epoch
    else:
        assert rep.total_optimization_steps == length
        assert rep.num_epochs == math.ceil(length / rep.num_update_steps_per_epoch)
