"""``python -m harness.complexity``: count the whole zoo (params, MACs, timing, memory)."""

from __future__ import annotations

from typing import Any

from harness.complexity.counting import count_complexity

# -- the whole zoo (python -m harness.complexity) ------------------------------------------------------------

def count_zoo(models: list[str] | None = None) -> dict[str, Any]:
    """Count every registered model at every scale it upscales by; records wall/CPU time and peak RSS."""
    import time

    from harness.models import create_model, get_spec, list_models

    rss0 = _peak_rss_mib()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    counts = []
    for name in models or list_models():
        spec = get_spec(name)
        for scale in (s for s in spec.scales if s > 1):
            t = time.perf_counter()
            row: dict[str, Any] = {"model": name, "scale": scale, "input": spec.input}
            try:
                c = count_complexity(create_model(name, scale), scale, spec.input)
                row.update({k: getattr(c, k) for k in (
                    "lr_shape", "params", "params_nobias", "params_weights", "macs_fvcore", "macs_bias",
                    "macs_deconv_per_output", "macs_ptflops", "macs_ptflops_aten", "ptflops_aten_residual",
                    "by_operator", "x3", "convs", "uncounted_ops", "method")})
            except Exception as exc:  # noqa: BLE001 — report every model, then fail in the caller
                row["error"] = f"{type(exc).__name__}: {exc}"
            row["seconds"] = round(time.perf_counter() - t, 3)
            counts.append(row)
    return {"wall_s": time.perf_counter() - wall0, "cpu_s": time.process_time() - cpu0,
            "peak_rss_mib": _peak_rss_mib(), "rss_before_counting_mib": rss0, "counts": counts}


def _peak_rss_mib() -> float:
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    ap = argparse.ArgumentParser(prog="python -m harness.complexity",
                                 description="Params and Mult-Adds at 1280×720 of every zoo model.")
    ap.add_argument("models", nargs="*", help="zoo model names (default: all)")
    ap.add_argument("--json", action="store_true", help="print the full record as JSON")
    args = ap.parse_args(argv)
    report = count_zoo(args.models or None)
    if args.json:
        print(json.dumps(report, default=str))
        return 0
    for r in report["counts"]:
        if "error" in r:
            print(f"{r['model']:<14} ×{r['scale']}  ERROR {r['error']}")
            continue
        x3 = " ".join(f"{k} {v / 1e9:.2f}" for k, v in r["x3"].items())
        pt = f"{r['macs_ptflops'] / 1e9:10.2f}" if r["macs_ptflops"] is not None else "         -"
        print(f"{r['model']:<14} ×{r['scale']}  params {r['params']:>11,}  no-bias {r['params_nobias']:>11,}  "
              f"fvcore {r['macs_fvcore'] / 1e9:10.2f} G  ptflops {pt} G  {x3}  ({r['seconds']:.1f} s)")
    print(f"{len(report['counts'])} counts in {report['wall_s']:.1f} s wall, {report['cpu_s']:.1f} s CPU; "
          f"peak RSS {report['peak_rss_mib']:.0f} MiB ({report['rss_before_counting_mib']:.0f} MiB before counting)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
