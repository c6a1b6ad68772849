"""Counting conventions: which convention (all parameters, no biases, conv weights only; fvcore MACs or
transposed convs per output pixel) reproduces a printed number, and how each suite's declared convention
maps to a counted field.  The counting itself is ``harness.complexity.counting``."""

from __future__ import annotations

from harness.complexity.counting import Complexity

# -- which convention reproduces a printed number ---------------------------------------------------------

_UNITS = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def printed_tolerance(printed: str | None, value: float, unit: float = 1.0, relative: float = 0.005) -> float:
    """Half a unit of the last printed digit, in the unit of ``value`` ("412K" -> 500; "52.7G" -> 0.05 for
    a value in G, ``unit`` = 1e9).  A printed string without a K/M/G suffix is read in ``unit``, unless
    the value is a thousand or a million times the printed number (a column printed "in K": "57.00" for
    57,000).  Without a printed string: ``relative`` × value.
    """
    if not printed:
        return abs(value) * relative
    text = printed.strip().replace(",", "")
    digits = text.rstrip("KkMmGgTt").strip()
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    mult = _UNITS.get(text[-1:].upper(), unit)
    try:
        number = float(digits)
    except ValueError:
        return abs(value) * relative
    if text[-1:].upper() not in _UNITS and number:
        for column_unit in (1e3, 1e6, 1e9):
            if 0.5 < value / (number * column_unit) < 2:
                mult = column_unit * unit
    return 0.5 * 10 ** (-decimals) * mult / unit


def _params_candidates(c: Complexity) -> list[tuple[str, int]]:
    kinds = (("all parameters (weights and biases)", "params"), ("parameters without biases", "params_nobias"),
             ("conv/linear weights only (no biases, no PReLU/normalisation parameters)", "params_weights"))
    totals = {"params": c.params, "params_nobias": c.params_nobias, "params_weights": c.params_weights}
    others = [b for s, b in c.branch_params.items() if s != c.scale]
    out: list[tuple[str, int]] = []
    for label, key in kinds:
        if others:
            out.append((f"{label}, all {len(c.branch_params)} upsampler branches", totals[key]))
            out.append((f"{label}, only the ×{c.scale} upsampler branch", totals[key] - sum(b[key] for b in others)))
        else:
            out.append((label, totals[key]))
    if c.params_trainable != c.params:
        out.append(("trainable parameters only", c.params_trainable))
    if c.params_train_form != c.params:
        out.append(("the training-time form (before re-parameterisation)", c.params_train_form))
    return out


def _explain(printed_value: float, printed: str | None, candidates: list[tuple[str, float]], fmt, tol: float) -> str:
    shown = printed or fmt(printed_value)
    matches = [(label, v) for label, v in candidates if abs(v - printed_value) <= tol]
    if matches:
        rest = [(label, v) for label, v in candidates if (label, v) not in matches][:2]
        text = f"printed {shown} is reproduced by " + "; ".join(f"{label} ({fmt(v)})" for label, v in matches)
        if rest:
            text += "; not by " + "; ".join(f"{label} ({fmt(v)})" for label, v in rest)
        return text
    closest = sorted(candidates, key=lambda lv: abs(lv[1] - printed_value))[:3]
    return f"no counting convention reproduces printed {shown}: " + "; ".join(
        f"{label} {fmt(v)} ({(v - printed_value) / printed_value:+.2%})" for label, v in closest)


def explain_params(paper_value: float, complexity: Complexity, printed: str | None = None) -> str:
    """Which parameter-counting convention reproduces a printed parameter count (to its printed digits).

    Candidates: all parameters; without biases; conv/linear weights only; trainable only; the
    training-time form of a re-parameterised model; and, for multi-scale models exposing
    ``upsampler_branches()``, each of those with all branches or with the branch of this scale only.
    """
    tol = printed_tolerance(printed, paper_value)
    return _explain(paper_value, printed, _params_candidates(complexity), lambda v: f"{v:,.0f}", tol)


def _macs_candidates(c: Complexity) -> list[tuple[str, float]]:
    out = [("fvcore MACs (bias and element-wise excluded)", c.macs_fvcore),
           ("MACs plus bias adds", c.macs_fvcore + c.macs_bias)]
    if c.macs_deconv_per_output != c.macs_fvcore:
        out.append(("transposed convs counted per output pixel", c.macs_deconv_per_output))
    if c.macs_ptflops is not None:
        out.append(("ptflops default backend (bias, activations)", c.macs_ptflops))
    labels = {"ceil": "×3 LR 427×240 (ceil)", "floor": "×3 LR 426×240 (floor)",
              "area": "×3 LR pixels = 1280·720/9 (area)"}
    out += [(labels[k], v) for k, v in c.x3.items() if k != c.x3_rounding]
    return out


def explain_macs(paper_value_g: float, complexity: Complexity, printed: str | None = None) -> str:
    """Which Mult-Adds convention reproduces a printed value in G (bias, deconvolution, ×3 size...)."""
    tol = printed_tolerance(printed, paper_value_g, unit=1e9)
    cands = [(label, v / 1e9) for label, v in _macs_candidates(complexity)]
    if complexity.x3:
        cands[0] = (f"{cands[0][0]}, ×3 '{complexity.x3_rounding}'", cands[0][1])
    return _explain(paper_value_g, printed, cands, lambda v: f"{v:,.2f}G" if v >= 10 else f"{v:.4f}G", tol)


_PARAMS_FIELDS = ("params", "params_nobias", "params_trainable", "params_weights", "params_train_form",
                  "branch_params", "deployed")
_MACS_FIELDS = ("lr_shape", "input_kind", "x3_rounding", "macs_fvcore", "macs_bias", "macs_deconv_per_output",
                "macs_ptflops", "macs_ptflops_aten", "ptflops_aten_residual", "by_operator", "elementwise_fvcore",
                "x3", "uncounted_ops", "zero_ops", "method", "notes")
_CONVS_FIELDS = ("convs", "convs_frozen", "conv_calls", "deployed")


_PARAMS_CONVENTION = {"all": ("params", "all parameters"), "no-bias": ("params_nobias", "parameters without biases"),
                      "weights-only": ("params_weights", "conv/linear weights only")}
