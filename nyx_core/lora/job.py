"""Job program for the LoRA tools (resize, merge, bake), run by the job runner:

    python -m nyx_core.lora.job '{"op": "resize", ...}'

It reports with the task protocol (``@nyx`` lines) and ends with a ``result`` event. Paths in the
recipe are absolute and were confined to the workspace by whoever submitted the job.
"""
from __future__ import annotations

import json
import sys

from nyx_core.jobs.task import TaskReporter


def run(recipe: dict) -> dict:
    rep = TaskReporter(unit="modules")

    def progress(done: int, total: int, msg: str = "") -> None:
        rep.progress(done, total, message=msg or None)

    op = recipe.get("op")
    if op == "resize":
        from nyx_core.lora.resize import ResizeOptions, resize_file

        res = resize_file(recipe["input"], recipe["output"], ResizeOptions(**recipe["options"]), progress=progress)
        data = res.to_json()
    elif op == "merge":
        from nyx_core.lora.merge import MergeInput, merge_files

        data = merge_files([MergeInput(p, float(w)) for p, w in recipe["inputs"]], recipe["output"],
                           rank=recipe.get("rank"), conv_rank=recipe.get("conv_rank"),
                           precision=recipe.get("precision", "fp16"), progress=progress)
    elif op == "bake":
        from nyx_core.lora.bake import bake

        rep.unit = "tensors"
        data = bake(recipe["checkpoint"], [(p, float(w)) for p, w in recipe["loras"]], recipe["output"],
                    precision=recipe.get("precision"), progress=progress)
    else:
        raise SystemExit(f"unknown op {op!r}")
    rep.result(**data)
    return data


def main(argv: list[str]) -> int:
    from nyx_core.errors import NyxError

    try:
        recipe = json.loads(argv[0])
        run(recipe)
    except NyxError as exc:
        TaskReporter().error(str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
