"""The natural-language captioning job program: ``python -m nyx_core.tagging.caption_job render/spec.json``.

Runs in sd-scripts' Python (torch + transformers are there; a pod does not get a second torch),
so at the top level it imports only stdlib-only Nyx modules. The model is BLIP
(``BlipForConditionalGeneration``, native in sd-scripts' transformers) loaded from a local folder.
Captions are written one by one, atomically, by mode; stopping keeps what is written.
"""
from __future__ import annotations

import sys
from pathlib import Path

from nyx_core.tagging.run import CaptionRun, job_main


def guard_torchvision() -> str | None:
    """transformers uses torchvision when it is installed; a torchvision built for another torch
    ("operator torchvision::nms does not exist") would stop every import of a vision model. BLIP
    does not need it (Pillow does the image processing), so a broken one is hidden. Returns why."""
    try:
        import torchvision  # noqa: F401
        return None
    except Exception as exc:  # noqa: BLE001 - any failure to import means: do not use it
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        sys.modules["torchvision"] = None  # type: ignore[assignment]  # find_spec → None: "not installed"
        return f"{type(exc).__name__}: {str(exc)[:120]}"


def load_model(folder: Path, device: str):  # noqa: ANN201
    import torch
    from transformers import BlipForConditionalGeneration, BlipProcessor

    processor = BlipProcessor.from_pretrained(str(folder), local_files_only=True)
    model = BlipForConditionalGeneration.from_pretrained(str(folder), local_files_only=True)
    dtype = torch.float16 if device == "cuda" else torch.float32
    model = model.to(device=device, dtype=dtype).eval()
    return processor, model, dtype


def caption_batch(processor, model, dtype, device: str, images: list, prompt: str, max_length: int, beams: int) -> list[str]:  # noqa: ANN001
    import torch

    kwargs = {"images": images, "return_tensors": "pt"}
    if prompt:
        kwargs["text"] = [prompt] * len(images)
    inputs = processor(**kwargs)
    inputs = {k: (v.to(device=device, dtype=dtype) if v.is_floating_point() else v.to(device)) for k, v in inputs.items()}
    with torch.inference_mode():
        out = model.generate(**inputs, max_length=max_length, num_beams=beams)
    return [t.strip() for t in processor.batch_decode(out, skip_special_tokens=True)]


def join_caption(prefix: str, text: str, suffix: str) -> str:
    """``ohwx`` + ``a cat on a sofa`` + ``film grain`` → ``ohwx, a cat on a sofa, film grain``."""
    parts = [p.strip().strip(",").strip() for p in (prefix, text, suffix)]
    return ", ".join(p for p in parts if p)


def main(argv: list[str] | None = None) -> int:
    return job_main(argv, _caption)


def _caption(job: CaptionRun, spec: dict) -> None:
    from nyx_core.tagging.options import CaptionOptions
    from nyx_core.tagging.output import apply_caption, has_caption, read_text

    opts = CaptionOptions.from_dict(spec["options"])
    todo = []
    for img in job.images:
        if opts.mode == "skip" and has_caption(read_text(img.with_name(img.stem + job.ext))):
            job.skipped(img)
        else:
            todo.append(img)
    if not todo:  # a resumed run with nothing left does not load torch or the model at all
        return
    ref, model_dir = job.fetch_model("captioners")
    broken = guard_torchvision()
    if broken:
        print(f"torchvision cannot be imported ({broken}); captioning without it", flush=True)
    import torch

    device = opts.device or ("cuda" if torch.cuda.is_available() else "cpu")
    processor, model, dtype = load_model(model_dir, device)
    print(f"captioner {ref.name} on {device}", flush=True)
    job.start_clock()
    for i in range(0, len(todo), opts.batch):
        from PIL import Image

        chunk, pics = [], []
        for img in todo[i:i + opts.batch]:
            try:
                with Image.open(img) as im:
                    pics.append(im.convert("RGB"))
                chunk.append(img)
            except Exception as exc:  # noqa: BLE001 - report the image, caption the rest
                job.failed(img, f"{type(exc).__name__}: {exc}")
        if not chunk:
            continue
        texts = caption_batch(processor, model, dtype, device, pics, opts.prompt, opts.max_length, opts.beams)
        for img, text in zip(chunk, texts):
            caption = join_caption(opts.prefix, text, opts.suffix)
            job.record(img, apply_caption(img, job.ext, caption, opts.mode, prose=True))


if __name__ == "__main__":
    sys.exit(main())
