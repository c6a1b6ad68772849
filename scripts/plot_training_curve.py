"""Plot a run's training curve from its log.jsonl (``harness.plots.plot_training_curve``).

    python scripts/plot_training_curve.py RUN_DIR [--out FILE.svg|.png] [--extra-val JSON ...]

``--extra-val`` adds validation points measured afterwards from kept checkpoints
(``{"iteration": N, "val_psnr": dB}``).  The output is generated: it is not committed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.plots import plot_training_curve


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--extra-val", type=Path, nargs="*", default=[])
    args = ap.parse_args()
    extra = {}
    for p in args.extra_val:
        d = json.loads(p.read_text())
        extra[d["iteration"]] = d["val_psnr"]
    print(plot_training_curve(args.run, args.out or args.run / "curve.svg", extra))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
