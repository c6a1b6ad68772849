"""Universality Assessment Equation (CRB paper, Sec. 3.2 and 4.2): the six forms of Eq. (21).

φ is computed per input feature unit from k (nested sub-modules), n (parameters), l (forward
propagation layers) and f (input feature channels); Eq. (2) is the first form.  ``lg`` is log10.

The kind ``measure_uae`` does two things for each Table 2 module:
- recomputes φ1…φ6 from the table's own printed k, n, l, f — this checks the table's arithmetic, so a
  typo or a rounding slip shows up as ``deviates`` with the recomputed value;
- where the module is implemented in the zoo, measures k, n, l, f from the real ``nn.Module``:
  n = number of parameters, f = ``in_channels``, l = operations in its traced forward graph
  (convolutions, linear layers, normalisations, activations, pooling, matrix products, element-wise
  products and residual additions; reshapes and window partitions are data movement, not layers),
  k = distinct composite sub-module types nested in it, pure containers (``nn.ModuleList``,
  ``nn.ModuleDict``, ``nn.Sequential``) excluded (RSTB: MSA, MLP, STL → 3, as the paper's text counts).

Evidence of each UAE form (``Measurement.evidence``): where k, n, l, f were all measured on the implemented
module, the form is computed from the *measured* variables and is ``complexity`` evidence (a reproduction
of the printed value, or not); where the module is not implemented, the form is recomputed from the
*printed* variables and is only a ``consistency`` check of the table's arithmetic.  Both values are in
every cell's reason and ``extra``.
"""

from __future__ import annotations

import math

import torch
import torch.fx
from torch import nn

from harness.measure import MeasureContext, Measurement
from harness.results import printed_half_unit
from harness.suite import Entry

UAE_VARIABLES = ("uae_k", "uae_n", "uae_l", "uae_f")
UAE_FORMS = ("uae1", "uae2", "uae3", "uae4", "uae5", "uae6")


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def uae_forms(k: float, n: float, l: float, f: float) -> dict[str, float]:
    """The six UAE forms of Eq. (21); ``uae1`` is Eq. (2)."""
    lg = math.log10(n / 100)
    ek = math.exp(k + 1)
    return {
        "uae1": l * ek / f * lg,
        "uae2": l * ek / (f * (1 + math.exp(-n / 100))),  # Sigmoid(n/100)
        "uae3": l * lg / f * (k + 1) / (1 + math.exp(-k - 1)),  # Swish(k+1)
        "uae4": ek * lg / f * l**2,
        "uae5": (l**2 + 1) * (5 * k**2 + 1) * math.sqrt(n + 2) / f,
        "uae6": _softplus(2 * k + 1) * _softplus(l) * math.tanh(n / 100) / f,
    }


# -- measuring k, n, l, f on a real module --------------------------------------------------------

_COUNTED_FUNCTIONS = {"add", "mul", "relu", "sigmoid", "gelu", "softmax", "matmul", "einsum", "conv2d"}
_CONTAINERS = (nn.ModuleList, nn.ModuleDict, nn.Sequential)


def count_layers(module: nn.Module) -> int:
    """l: operations on the traced forward path (each call counts, so shared weights count twice)."""
    graph = torch.fx.symbolic_trace(module).graph
    count = 0
    for node in graph.nodes:
        if node.op == "call_module":
            count += 1
        elif node.op in ("call_function", "call_method"):
            name = getattr(node.target, "__name__", str(node.target)).strip("_")
            if name.lstrip("i") in _COUNTED_FUNCTIONS:
                count += 1
    return count


def count_nesting(module: nn.Module) -> int:
    """k: distinct composite (non-leaf) sub-module types nested inside the block, containers excluded."""
    kinds = {type(m) for name, m in module.named_modules()
             if name and any(True for _ in m.children()) and not isinstance(m, _CONTAINERS)}
    return len(kinds)


def inserted_block(host: nn.Module) -> nn.Module | None:
    """The first instance of the host's pluggable block (``host.block``, a block-registry name), or None."""
    from harness.models.blocks import make_block

    name = getattr(host, "block", None)
    if not name:
        return None
    kind = type(make_block(name, 64))
    return next((m for m in host.modules() if type(m) is kind), None)


def measure_variables(module: nn.Module) -> dict[str, int]:
    f = int(module.in_channels)
    return {
        "uae_k": count_nesting(module),
        "uae_n": sum(p.numel() for p in module.parameters()),
        "uae_l": count_layers(module),
        "uae_f": f,
    }


_HOW = {
    "uae_k": "distinct composite sub-module types in the implemented block",
    "uae_n": "parameters of the implemented block (weights and biases)",
    "uae_l": "operations on the traced forward graph (conv, activation, pooling, product, residual add)",
    "uae_f": "input channels of the implemented block",
}


# -- explaining a gap between a printed and a recomputed value --------------------------------------

def explain_gap(printed: str, value: float) -> str:
    """Name the likely cause when a printed value differs from the recomputed one."""
    text = printed.replace(",", "")
    decimals = len(text.split(".")[1]) if "." in text else 0
    exact = f"{value:.{decimals + 3}f}"
    rounded = f"{value:.{decimals}f}"
    truncated = f"{math.floor(value * 10**decimals) / 10**decimals:.{decimals}f}"
    if truncated == text:
        return f"the printed value is the recomputed {exact} truncated (not rounded) to {decimals} decimals"
    for label, candidate in (("rounds", rounded), ("truncates", truncated)):
        diff = [i for i, (a, b) in enumerate(zip(candidate, text)) if a != b]
        if len(candidate) == len(text) and len(diff) == 1:
            return f"the recomputed {exact} {label} to {candidate}; the printed {printed} differs in one digit (likely a typo)"
    return f"the recomputed {exact} rounds to {rounded}, not the printed {printed}"


def measure_uae(ctx: MeasureContext, entry: Entry) -> list[Measurement]:
    printed = {c.metric: c for c in entry.paper if c.metric in UAE_VARIABLES}
    out: list[Measurement] = []

    measured: dict[str, int] = {}
    source = entry.model
    if entry.model:
        from harness.models import create_model, get_spec

        spec = get_spec(entry.model)
        built = create_model(entry.model, entry.scale or spec.scales[0], **entry.kwargs)
        if spec.scales != (1,):  # a host network (CRB Table 3's φ2 row): the UAE is its inserted block's
            built, source = inserted_block(built), f"the {getattr(built, 'block', None)!r} block of {entry.model}"
        measured = measure_variables(built) if built is not None else {}
    for var in UAE_VARIABLES:
        if var not in printed:
            continue
        if var in measured:
            out.append(Measurement(var, float(measured[var]), reason=f"measured: {_HOW[var]} ({source})",
                                   evidence="complexity"))
        else:
            out.append(Measurement(var, None, status="paper-only",
                                   reason=entry.reason or "module not implemented in the harness"))

    printed_all = all(v in printed and printed[v].value is not None for v in UAE_VARIABLES)
    have_measured = bool(measured) and all(v in measured for v in UAE_VARIABLES)
    if not printed_all and not have_measured:
        missing = [v for v in UAE_VARIABLES if v not in printed]
        return out + [Measurement(m, None, status="paper-only", reason=(
            f"the suite prints no {', '.join(missing)} for this entry and no implemented module is named: "
            "the printed form is reprinted, not checkable here")) for m in UAE_FORMS if any(c.metric == m for c in entry.paper)]
    if not printed_all:  # forms of a measured module whose variables the table does not print (Table 3)
        values = uae_forms(*(measured[v] for v in UAE_VARIABLES))
        mk, mn, ml, mf = (measured[v] for v in UAE_VARIABLES)
        for c in entry.paper:
            if c.metric in UAE_FORMS:
                value = values[c.metric]
                reason = f"Eq. (21) from the MEASURED k={mk}, n={mn:,}, l={ml}, f={mf} of {source}: {value:.4f}"
                if c.value is not None and abs(value - c.value) > printed_half_unit(c.printed, c.value):
                    reason += f"; {explain_gap(c.printed, value)}"
                out.append(Measurement(c.metric, value, reason=reason, evidence="complexity",
                                       extra={"from_measured": value, "variables": dict(measured)}))
        return out

    k, n, l, f = (printed[v].value for v in UAE_VARIABLES)
    recomputed = uae_forms(k, n, l, f)
    have_measured = bool(measured) and all(v in measured for v in UAE_VARIABLES)
    from_measured = uae_forms(*(measured[v] for v in UAE_VARIABLES)) if have_measured else {}
    same = have_measured and all(measured[v] == printed[v].value for v in UAE_VARIABLES)
    for form, value_printed in recomputed.items():
        pc = next((c for c in entry.paper if c.metric == form), None)
        printed_text = f"k={k:g}, n={n:,.0f}, l={l:g}, f={f:g}"
        if have_measured:
            value = from_measured[form]
            mk, mn, ml, mf = (measured[v] for v in UAE_VARIABLES)
            reason = (f"Eq. (21) from the MEASURED k={mk}, n={mn:,}, l={ml}, f={mf} of {entry.model}: {value:.4f}"
                      + (" (equal to the printed variables)" if same else
                         f"; from the printed {printed_text}: {value_printed:.4f}"))
            evidence = "complexity"
        else:
            value = value_printed
            reason = (f"Eq. (21) recomputed from the PRINTED {printed_text}: {value:.4f} — a consistency check of "
                      "the table's arithmetic, not a measurement (module not implemented)")
            evidence = "consistency"
        if pc is not None and abs(value - pc.value) > printed_half_unit(pc.printed, pc.value):
            reason += f"; {explain_gap(pc.printed, value)}"
        out.append(Measurement(form, value, reason=reason, evidence=evidence,
                               extra={"from_measured": from_measured.get(form), "from_printed": value_printed}))
    return out
