"""GPU facts through NVML, with a stand-in pynvml module (no GPU here): the Home/Monitor summary
and the doctor's facts read the same devices, and NVML is always shut down again."""
from __future__ import annotations

import sys
import types

from nyx_core import doctor, system


def _fake_pynvml(calls: list[str]) -> types.ModuleType:
    m = types.ModuleType("pynvml")
    mem = types.SimpleNamespace(used=2 * 2**30, total=24 * 2**30)
    m.NVML_TEMPERATURE_GPU = 0
    m.nvmlInit = lambda: calls.append("init")
    m.nvmlShutdown = lambda: calls.append("shutdown")
    m.nvmlDeviceGetCount = lambda: 1
    m.nvmlDeviceGetHandleByIndex = lambda i: i
    m.nvmlDeviceGetMemoryInfo = lambda h: mem
    m.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=37)
    m.nvmlDeviceGetName = lambda h: b"NVIDIA L4"
    m.nvmlDeviceGetTemperature = lambda h, kind: 51
    m.nvmlSystemGetDriverVersion = lambda: "570.86"
    m.nvmlDeviceGetCudaComputeCapability = lambda h: (8, 9)
    return m


def test_summary_and_doctor_read_the_same_gpu(monkeypatch):
    calls: list[str] = []
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(calls))
    doctor.gpu_facts.cache_clear()
    try:
        [g] = system.gpu_summary()
        assert (g["name"], g["memory_total_mb"], g["utilization_pct"]) == ("NVIDIA L4", 24576, 37)
        [f] = doctor.gpu_facts()
        assert (f.name, f.driver, f.compute_capability) == ("NVIDIA L4", "570.86", (8, 9))
    finally:
        doctor.gpu_facts.cache_clear()
    assert calls == ["init", "shutdown", "init", "shutdown"]


def test_no_driver_means_no_gpu(monkeypatch):
    m = _fake_pynvml([])

    def fail():
        raise RuntimeError("NVML Shared Library Not Found")

    m.nvmlInit = fail
    monkeypatch.setitem(sys.modules, "pynvml", m)
    doctor.gpu_facts.cache_clear()
    try:
        assert system.gpu_summary() == [] and doctor.gpu_facts() == []
    finally:
        doctor.gpu_facts.cache_clear()
