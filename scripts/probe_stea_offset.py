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
``--train ENTRY --hr-patch N`` first trains stea_table7's ENTRY under `short` with only the HR patch changed
(a probe run with its own key in ``$SRBENCH_RUNS_DIR``; T91's smallest image, 76 px, caps N at 76): the test
of whether a larger training patch removes the offset.  Otherwise it reads runs only; the report is plain text, the JSON keeps every number with the run's
record (key, label, weights sha256) and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from harness.degradations import gaussian8_lr, gaussian8_sigmas, mod_crop
from harness.metrics import rgb_to_y
from harness.training.engine import build_model

SCALE = 4
SIZES = (12, 24, 48, 96, 128)  # LR px; 12 = the short budget's training patch (HR 48 / 4)
CROPS = ((0, 0), (20, 30), (50, 60), (40, 0))


def _sr(model: torch.nn.Module, lr: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = model(torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255.0)[0].permute(1, 2, 0).numpy()
    return np.round(np.clip(out * 255.0, 0, 255))


def _psnr(a: np.ndarray, b: np.ndarray, shave: int = SCALE) -> float:
    d = (a - b)[shave:-shave, shave:-shave]
    return float(10 * np.log10(255.0**2 / np.mean(d**2)))


def probe(run: Path, set5: Path) -> dict:
    record = json.loads((run / "record.json").read_text())
    cfg = record["config"]
    model = build_model(cfg["model"], cfg["scale"], cfg["model_kwargs"]).eval()
    model.load_state_dict(torch.load(run / "weights.pt", map_location="cpu"))
    images = []
    for f in sorted(set5.glob("*.png")):
        hr = mod_crop(np.asarray(Image.open(f).convert("RGB")), SCALE)
        for sigma in gaussian8_sigmas(SCALE)[::3]:
            sr = _sr(model, gaussian8_lr(hr, SCALE, sigma))
            y_sr, y_hr = rgb_to_y(sr), rgb_to_y(hr)
            images.append({"image": f.name, "sigma": round(sigma, 3),
                           "offset_rgb": [round(float(v), 2) for v in (sr - hr).reshape(-1, 3).mean(0)],
                           "psnr_y": round(_psnr(y_sr, y_hr), 3),
                           "psnr_y_offset_removed": round(_psnr(y_sr - (y_sr - y_hr).mean(), y_hr), 3)})
    hr = mod_crop(np.asarray(Image.open(set5 / "baby.png").convert("RGB")), SCALE)
    lr = gaussian8_lr(hr, SCALE, 2.4)
    by_size = {}
    for n in SIZES:
        offs = [(_sr(model, lr[i:i + n, j:j + n]) - hr[SCALE * i:SCALE * (i + n), SCALE * j:SCALE * (j + n)])
                .reshape(-1, 3).mean(0) for i, j in CROPS]
        by_size[str(n)] = [round(float(v), 2) for v in np.mean(offs, 0)]
    return {"key": record["key"], "label": record["label"], "seed": cfg["seed"], "hr_patch": cfg["hr_patch"],
            "weights_sha256": record["weights"]["sha256"], "final_loss": record["final_loss"],
            "mean_offset_rgb": np.mean([r["offset_rgb"] for r in images], 0).round(2).tolist(),
            "psnr_y": round(float(np.mean([r["psnr_y"] for r in images])), 3),
            "psnr_y_offset_removed": round(float(np.mean([r["psnr_y_offset_removed"] for r in images])), 3),
            "offset_rgb_by_lr_size": by_size, "images": images}


def train_with_patch(entry: str, hr_patch: int) -> None:
    """Train stea_table7's ``entry`` at the short budget with the HR patch replaced (probe runs only)."""
    import dataclasses

    from harness.cli import main as cli
    from harness.training import api

    resolve = api.resolve_entry

    def patched(e, scale, budget):
        recipe, b, cfg = resolve(e, scale, budget)
        return recipe, b, dataclasses.replace(cfg, hr_patch=hr_patch)

    api.resolve_entry = patched
    try:
        if cli(["train", "stea_table7", "--entries", entry, "--budget", "short"]):
            raise SystemExit(f"training {entry} with HR patch {hr_patch} failed")
    finally:
        api.resolve_entry = resolve


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
    runs = Path(os.environ.get("SRBENCH_RUNS_DIR", "runs"))
    set5 = Path(os.environ["SRBENCH_DATA_DIR"]) / "benchmark" / "Set5" / "HR"
    out = [probe(Path(k) if Path(k).is_dir() else runs / k, set5) for k in args.keys]
    for r in out:
        print(f"{r['key']} {r['label']} seed {r['seed']} HR patch {r['hr_patch']}: mean offset RGB {r['mean_offset_rgb']} grey levels; "
              f"PSNR-Y {r['psnr_y']:.2f} → {r['psnr_y_offset_removed']:.2f} dB with the mean Y offset removed")
        print("   offset by LR input size (px: RGB):",
              "; ".join(f"{n}: {v}" for n, v in r["offset_rgb_by_lr_size"].items()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc = {"probe": "scripts/probe_stea_offset.py", "at": datetime.now(UTC).isoformat(timespec="seconds"),
               "machine": f"{platform.machine()} CPU, torch {torch.__version__}, 1 thread",
               "protocol": f"Gaussian8 x{SCALE} (sigma 1.8, 2.4, 3.0), Set5, BT.601 Y, shave {SCALE}", "runs": out}
        tmp = args.json.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        tmp.replace(args.json)


if __name__ == "__main__":
    main()
