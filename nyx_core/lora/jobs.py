"""Submit the LoRA tools as jobs (kind ``lora``, no GPU: they start beside a training run)."""
from __future__ import annotations

import json
from pathlib import Path

from nyx_core.jobs import JobManager, JobSpec
from nyx_core.jobs.task import task_argv


def submit_tool(jm: JobManager, recipe: dict, name: str):
    argv, env = task_argv("nyx_core.lora.job", json.dumps(recipe))
    # thousands of tiny factorizations: one BLAS thread each is several times faster on shared cores
    env.update({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    spec = JobSpec(argv=argv, env=env, kind="lora", gpu_set="none", expected_output=str(recipe["output"]),
                   output_dir=str(Path(recipe["output"]).parent))
    return jm.submit(spec, name)


def resize_recipe(src: Path, dest: Path, **options) -> dict:
    return {"op": "resize", "input": str(src), "output": str(dest), "options": options}


def merge_recipe(inputs: list[tuple[Path, float]], dest: Path, rank: int | None, conv_rank: int | None = None,
                 precision: str = "fp16") -> dict:
    return {"op": "merge", "inputs": [[str(p), w] for p, w in inputs], "output": str(dest), "rank": rank,
            "conv_rank": conv_rank, "precision": precision}


def bake_recipe(checkpoint: Path, loras: list[tuple[Path, float]], dest: Path, precision: str | None = None) -> dict:
    return {"op": "bake", "checkpoint": str(checkpoint), "loras": [[str(p), w] for p, w in loras],
            "output": str(dest), "precision": precision}
