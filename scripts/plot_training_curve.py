"""Plot a run's training curve from its log.jsonl: loss (log scale) and held-out validation PSNR-Y, with the
bicubic PSNR on the same crops as a reference line.

    python scripts/plot_training_curve.py RUN_DIR [--out PNG] [--extra-val JSON ...]

``--extra-val`` adds validation points measured afterwards from kept checkpoints
(``{"iteration": N, "val_psnr": dB}``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--extra-val", type=Path, nargs="*", default=[])
    args = ap.parse_args()
    rows = [json.loads(ln) for ln in (args.run / "log.jsonl").read_text().splitlines() if ln.strip()]
    rec = json.loads((args.run / "record.json").read_text()) if (args.run / "record.json").exists() else {}
    steps = [r for r in rows if not r.get("final")]
    val = {r["iteration"]: r["val_psnr"] for r in rows if r.get("val_psnr") is not None}
    for p in args.extra_val:
        d = json.loads(p.read_text())
        val.setdefault(d["iteration"], d["val_psnr"])
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.plot([r["iteration"] for r in steps], [r["loss"] for r in steps], lw=0.8)
    a.set_yscale("log"), a.set_xlabel("iteration"), a.set_ylabel(f"training loss ({rec.get('config', {}).get('loss', '')})")
    its = sorted(val)
    b.plot(its, [val[i] for i in its], "o-", label="model, held-out T91 crops")
    if rec.get("val_bicubic_psnr"):
        b.axhline(rec["val_bicubic_psnr"], color="grey", ls="--", label="bicubic, same crops")
    for name, t in (rec.get("test") or {}).items():
        b.plot([rec["iterations"]], [t["psnr_y"] - t["bicubic_psnr_y"] + (rec.get("val_bicubic_psnr") or 0)], "*",
               ms=12, label=f"{name}: {t['psnr_y']:.2f} dB (bicubic {t['bicubic_psnr_y']:.2f}, "
                            f"{t['psnr_y'] - t['bicubic_psnr_y']:+.2f}); plotted as offset over bicubic")
    b.set_xlabel("iteration"), b.set_ylabel("PSNR-Y (dB)"), b.legend(fontsize=7)
    cfg = rec.get("config", {})
    fig.suptitle(f"run {rec.get('key', args.run.name)}: {cfg.get('model', '')} ×{cfg.get('scale', '')}, "
                 f"{cfg.get('budget', '')} budget ({cfg.get('iterations', '')} it, batch {cfg.get('batch', '')})", fontsize=9)
    fig.tight_layout()
    out = args.out or args.run / "curve.png"
    fig.savefig(out, dpi=110)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
