"""Probe: where does the seed spread of STEA's short-budget LabNet rows come from?

The `short` runs of stea_table3/6/7 (LabNet C = 16, one LSTEA block per module, HR patch 48 → LR 12 × 12)
differ by 2.7–3.6 dB PSNR-Y on Set5 between two seeds of one row.  This probe loads finished runs (their
weights.pt under ``$SRBENCH_RUNS_DIR/<key>``) and measures, under Gaussian8 ×4 (the pinned
``gaussian8_lr``; σ = 1.8, 2.4, 3.0 of the 8 widths, to keep it short):

1. **colour offset**: mean(SR − HR) per RGB channel in grey levels (SR clipped to [0, 255] and rounded), and
   PSNR-Y (BT.601, shave 4) before and after removing each image's mean Y offset: how much of the gap is a
   constant shift rather than missing detail;
2. **input size**: the same offset on LR crops of 12, 24, 48, 96 and 128 px (4 crops of ``baby.png``,
   σ = 2.4): whether the model keeps the training patch's colour statistics on larger inputs.

Usage: ``python scripts/probe_stea_offset.py KEY|RUN_DIR ... [--json results/probes/stea_offset.json]``.
``--train ENTRY --hr-patch N`` first trains stea_table7's ENTRY under `short` from a copy of the suite whose
``[budgets.short] hr_patch`` is N (a probe run with its own key in the runs directory; T91's smallest image,
76 px, caps N at 76): the test of whether a larger training patch removes the offset.  Otherwise it reads
runs only; the report is plain text, the JSON keeps every number with the run's record (key, label, weights
sha256) and the machine.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from harness import datasets, metrics
from harness.degradations import gaussian8_lr, gaussian8_sigmas, mod_crop
from harness.evaluate import _from_tensor, _to_tensor, run_model
from harness.suite import SUITES_DIR
from harness.training import runs
from harness.training.engine import build_model
from harness.util import device_description, write_json

SCALE = 4
SIZES = (12, 24, 48, 96, 128)  # LR px; 12 = the short budget's training patch (HR 48 / 4)
CROPS = ((0, 0), (20, 30), (50, 60), (40, 0))


def _sr(model: torch.nn.Module, lr: np.ndarray) -> np.ndarray:
    """SR of a uint8 LR image on the 0–255 scale, clamped and rounded (the basicsr profile's quantisation)."""
    return metrics.quantize(_from_tensor(run_model(model, _to_tensor(lr, "cpu"))), "round")


def _psnr_y(sr_y: np.ndarray, hr_y: np.ndarray) -> float:
    return metrics.psnr(metrics.shave(sr_y, SCALE), metrics.shave(hr_y, SCALE))


def probe(run: Path, set5: list[Path]) -> dict:
    record = json.loads((run / "record.json").read_text())
    cfg = record["config"]
    model = build_model(cfg["model"], cfg["scale"], cfg["model_kwargs"]).eval()
    model.load_state_dict(runs.load_weights(run))
    images = []
    for f in set5:
        hr = mod_crop(np.asarray(Image.open(f).convert("RGB")), SCALE)
        for sigma in gaussian8_sigmas(SCALE)[::3]:
            sr = _sr(model, gaussian8_lr(hr, SCALE, sigma))
            y_sr, y_hr = metrics.rgb_to_y(sr), metrics.rgb_to_y(hr)
            images.append({"image": f.name, "sigma": round(sigma, 3),
                           "offset_rgb": [round(float(v), 2) for v in (sr - hr).reshape(-1, 3).mean(0)],
                           "psnr_y": round(_psnr_y(y_sr, y_hr), 3),
                           "psnr_y_offset_removed": round(_psnr_y(y_sr - (y_sr - y_hr).mean(), y_hr), 3)})
    hr = mod_crop(np.asarray(Image.open(next(f for f in set5 if f.name == "baby.png")).convert("RGB")), SCALE)
    lr = gaussian8_lr(hr, SCALE, 2.4)
    by_size = {}
    for n in SIZES:
        offs = [(_sr(model, lr[i:i + n, j:j + n]) - hr[SCALE * i:SCALE * (i + n), SCALE * j:SCALE * (j + n)])
                .reshape(-1, 3).mean(0) for i, j in CROPS]
        by_size[str(n)] = [round(float(v), 2) for v in np.mean(offs, 0)]
    return {"key": record["key"], "label": record["label"], "seed": cfg["seed"], "hr_patch": cfg["hr_patch"],
            "weights_sha256": record["weights"]["sha256"], "final_loss": record["final_loss"],
            "mean_offset_rgb": [round(float(v), 2) for v in np.mean([r["offset_rgb"] for r in images], 0)],
            "psnr_y": round(float(np.mean([r["psnr_y"] for r in images])), 3),
            "psnr_y_offset_removed": round(float(np.mean([r["psnr_y_offset_removed"] for r in images])), 3),
            "offset_rgb_by_lr_size": by_size, "images": images}


def train_with_patch(entry: str, hr_patch: int) -> None:
    """Train stea_table7's ``entry`` at the short budget from a suite copy with its HR patch replaced."""
    from harness.cli import main as cli

    text, n = re.subn(r"(?m)^hr_patch = \d+$", f"hr_patch = {hr_patch}",
                      (SUITES_DIR / "stea_table7.toml").read_text(encoding="utf-8"))
    if n != 1:
        raise SystemExit(f"suites/stea_table7.toml: expected one [budgets.short] hr_patch line, found {n}")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "stea_table7.toml"
        copy.write_text(text, encoding="utf-8")
        if cli(["train", str(copy), "--entries", entry, "--budget", "short"]):
            raise SystemExit(f"training {entry} with HR patch {hr_patch} failed")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("keys", nargs="*")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--train", help="stea_table7 entry to train first (probe run)")
    ap.add_argument("--hr-patch", type=int, default=72)
    args = ap.parse_args()
    if args.train:
        train_with_patch(args.train, args.hr_patch)
    torch.set_num_threads(1)
    set5 = datasets.list_images("Set5", datasets.resolve_data_dir())
    out = [probe(Path(k) if Path(k).is_dir() else runs.runs_dir() / k, set5) for k in args.keys]
    for r in out:
        print(f"{r['key']} {r['label']} seed {r['seed']} HR patch {r['hr_patch']}: mean offset RGB "
              f"{r['mean_offset_rgb']} grey levels; PSNR-Y {r['psnr_y']:.2f} → {r['psnr_y_offset_removed']:.2f} dB "
              "with the mean Y offset removed")
        print("   offset by LR input size (px: RGB):",
              "; ".join(f"{n}: {v}" for n, v in r["offset_rgb_by_lr_size"].items()))
    if args.json:
        write_json(args.json, {"probe": "scripts/probe_stea_offset.py",
                               "at": datetime.now(UTC).isoformat(timespec="seconds"),
                               "machine": f"{device_description('cpu')}, torch {torch.__version__}",
                               "protocol": f"Gaussian8 x{SCALE} (sigma 1.8, 2.4, 3.0), Set5, BT.601 Y, shave {SCALE}",
                               "runs": out})

if __name__ == "__main__":
    main()
