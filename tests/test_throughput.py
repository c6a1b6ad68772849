"""Throughput / inference-time measurement (harness/throughput.py): records, labels, CPU vs GPU cells."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from harness.measure import MeasureContext
from harness.suite import Entry, PaperCell, Suite
from harness.throughput import (
    REPSR_GPU,
    STEA_GPU,
    Protocol,
    cpu_protocol,
    measure_throughput,
    paper_gpu,
    time_model,
)


def tiny_sr(scale: int = 2) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale))


TINY = Protocol(name="tiny", source="test", batch=2, lr_hw=(8, 12), warmup=1, repeats=3)


def test_cpu_timing_record_fields():
    t = time_model(tiny_sr(), TINY, device="cpu")
    assert t.input_shape == (2, 3, 8, 12) and t.output_shape == (2, 3, 16, 24)
    assert len(t.times_s) == 3 and t.median_s > 0
    assert t.min_s <= t.q25_s <= t.median_s <= t.q75_s <= t.max_s and t.iqr_s == t.q75_s - t.q25_s
    assert t.images_per_s == pytest.approx(2 / t.median_s) and t.seconds_per_image == pytest.approx(t.median_s / 2)
    assert t.protocol["warmup"] == 1 and t.protocol["repeats"] == 3 and t.protocol["batch"] == 2
    assert t.dtype == "float32" and t.protocol["channels_last"] is False
    d = t.device
    assert d["device_kind"] == "cpu" and d["cpu"] and d["cpu_threads"] >= 1 and d["torch"] == torch.__version__
    assert "gpu" not in d
    assert t.peak_memory_kind.startswith("process peak RSS")
    assert "CPU (" in t.label() and "not GPU" in t.label()
    json.dumps(t.to_dict())


def test_y_upscaled_models_get_the_hr_size_input():
    net = nn.Conv2d(1, 1, 3, padding=1)
    t = time_model(net, TINY, device="cpu", in_channels=1, input_upscale=3)
    assert t.input_shape == (2, 1, 24, 36) == t.output_shape


def test_cpu_protocols_are_declared_departures():
    smoke = cpu_protocol(REPSR_GPU, "smoke")
    assert (smoke.batch, smoke.lr_hw, smoke.dtype_mode, smoke.repeats) == (1, (45, 80), "none", 3)
    assert "CPU" in smoke.note and "quarter" in smoke.note
    assert cpu_protocol(REPSR_GPU, "short").lr_hw == (180, 320)
    assert cpu_protocol(REPSR_GPU, "paper").batch == 4
    assert cpu_protocol(STEA_GPU, "smoke").lr_hw == (64, 64)  # already small: kept
    with pytest.raises(ValueError, match="fp32"):
        time_model(tiny_sr(), REPSR_GPU, device="cpu")  # fp16 protocol on the CPU is refused


def test_paper_gpu():
    assert paper_gpu(["", "The throughput is tested on A100 with a batch is 4"]) == "A100"
    assert paper_gpu(["trained on Tesla T4 GPUs"]) == "Tesla T4"
    assert paper_gpu(["seconds per input"]) == "an unnamed GPU"


def _ctx(entry: Entry, caption: str = "") -> MeasureContext:
    suite = Suite(id="t", paper="p", table="T", caption=caption, entries=[entry])
    return MeasureContext(suite=suite, profile=suite.metric_profile, data_dir=None, weights_dir=None,
                          device="cpu", budget="smoke")


def test_gpu_paper_value_on_cpu_is_not_run_with_cpu_figure_in_extra():
    entry = Entry(id="e", row="E", model="edsr_dcrb", obtain="compute", scale=4,
                  kwargs={"num_blocks": 1, "channels": 8},
                  paper=[PaperCell(metric="infer_time", value=0.5, printed="0.50 s", note="on a Tesla T4")])
    (m,) = measure_throughput(_ctx(entry), entry)
    assert m.metric == "infer_time" and m.status == "not-run" and m.value is None
    assert m.reason.startswith("paper value is GPU inference time on Tesla T4; this machine has no GPU")
    assert m.extra["device_kind"] == "cpu" and m.extra["cpu_value"] > 0
    assert m.extra["input_shape"] == (1, 3, 64, 64) and m.extra["output_shape"] == (1, 3, 256, 256)


def test_requested_throughput_on_cpu_is_labelled_cpu():
    entry = Entry(id="e", row="E", model="edsr_dcrb", obtain="compute", scale=4, measure=["throughput"],
                  kwargs={"num_blocks": 1, "channels": 8})
    (m,) = measure_throughput(_ctx(entry, caption="tested on A100"), entry)
    assert m.metric == "throughput" and m.status is None and m.value > 0
    assert "CPU (" in m.reason and "not GPU" in m.reason and "GPU throughput" not in m.reason
    assert m.extra["device_kind"] == "cpu" and m.extra["input_shape"] == (1, 3, 45, 80)
    assert m.extra["protocol"]["note"].startswith("CPU: fp32, batch 1")


def test_bicubic_and_paper_only_entries_get_nothing():
    bic = Entry(id="b", row="B", model="bicubic", obtain="compute", scale=4, measure=["throughput"])
    only = Entry(id="p", row="P", obtain="paper-only", reason="no code", scale=4,
                 paper=[PaperCell(metric="infer_time", value=1.18, printed="1.18 s")])
    assert measure_throughput(_ctx(bic), bic) == [] == measure_throughput(_ctx(only), only)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (runs on GPU machines)")
@pytest.mark.parametrize("mode,channels_last", [("half", False), ("autocast", True)])
def test_cuda_timing_record(mode, channels_last):
    p = Protocol(name="tiny-gpu", source="test", batch=4, lr_hw=(180, 320), dtype_mode=mode,
                 channels_last=channels_last, warmup=3, repeats=5)
    t = time_model(tiny_sr(4), p, device="cuda")
    assert t.device["device_kind"] == "cuda" and t.device["gpu"] and t.device["cuda"]
    assert t.output_shape == (4, 3, 720, 1280) and t.median_s > 0 and t.peak_memory_bytes > 0
    assert t.dtype.startswith("float16") and "GPU " in t.label()
