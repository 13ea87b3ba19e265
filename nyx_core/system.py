"""Machine facts: GPUs (via nvidia-ml-py when present), RAM and disk (psutil)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import psutil


def gpu_summary() -> list[dict[str, Any]]:
    """One dict per NVIDIA GPU; an empty list when there is none or NVML is unavailable."""
    try:
        import pynvml  # from nvidia-ml-py; imported lazily because most calls need no GPU
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:  # NVML missing (no driver) is the normal case on CPU machines
        return []
    try:
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            util = pynvml.nvmlDeviceGetUtilizationRates(h)
            name = pynvml.nvmlDeviceGetName(h)
            out.append(
                {
                    "index": i,
                    "name": name.decode() if isinstance(name, bytes) else name,
                    "memory_used_mb": mem.used // 2**20,
                    "memory_total_mb": mem.total // 2**20,
                    "utilization_pct": util.gpu,
                    "temperature_c": pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU),
                }
            )
        return out
    except Exception:
        return []
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def memory_summary() -> dict[str, int]:
    vm = psutil.virtual_memory()
    return {"total": vm.total, "available": vm.available, "used": vm.total - vm.available}


def disk_free(path: Path) -> int:
    return psutil.disk_usage(str(path)).free
