"""Machine facts: GPUs (via nvidia-ml-py when present), RAM and disk (psutil)."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import psutil


@contextmanager
def nvml() -> Iterator[Any]:
    """The pynvml module, initialised, or None where there is no NVIDIA driver (the normal case
    on a CPU machine); shut down afterwards. Imported lazily: most calls need no GPU."""
    try:
        import pynvml  # from nvidia-ml-py

        pynvml.nvmlInit()
    except Exception:
        yield None
        return
    try:
        yield pynvml
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def text(value: Any) -> str:
    """NVML returns bytes or str depending on its version."""
    return value.decode() if isinstance(value, bytes) else str(value)


def gpu_summary() -> list[dict[str, Any]]:
    """One dict per NVIDIA GPU; an empty list when there is none or NVML is unavailable."""
    with nvml() as pynvml:
        if pynvml is None:
            return []
        try:
            out = []
            for i in range(pynvml.nvmlDeviceGetCount()):
                h = pynvml.nvmlDeviceGetHandleByIndex(i)
                mem = pynvml.nvmlDeviceGetMemoryInfo(h)
                util = pynvml.nvmlDeviceGetUtilizationRates(h)
                out.append({
                    "index": i,
                    "name": text(pynvml.nvmlDeviceGetName(h)),
                    "memory_used_mb": mem.used // 2**20,
                    "memory_total_mb": mem.total // 2**20,
                    "utilization_pct": util.gpu,
                    "temperature_c": pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU),
                })
            return out
        except Exception:
            return []


def memory_summary() -> dict[str, int]:
    vm = psutil.virtual_memory()
    return {"total": vm.total, "available": vm.available, "used": vm.total - vm.available}


def disk_free(path: Path) -> int:
    return psutil.disk_usage(str(path)).free
