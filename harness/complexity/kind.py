"""The ``complexity`` measurement kind: params, FLOPs / Mult-Adds at 720p and #Conv of an entry's deploy form,
under the entry's declared counting convention (``harness.complexity.conventions``)."""

from __future__ import annotations

from harness.complexity.conventions import (
    _CONVS_FIELDS,
    _MACS_FIELDS,
    _PARAMS_CONVENTION,
    _PARAMS_FIELDS,
    explain_macs,
    explain_params,
)
from harness.complexity.counting import (
    COMPLEXITY_METRICS,
    Complexity,
    ComplexityError,
    count_complexity,
    count_params,
)
from harness.measure import MeasureContext, Measurement
from harness.suite import Entry

# -- the runner's kind ------------------------------------------------------------------------------------

def _count_cached(ctx: MeasureContext, name: str, scale: int, kwargs: dict, input_kind: str,
                  shape: tuple[int, ...] | None = None) -> Complexity:
    from harness.models import create_model

    key = ("complexity", name, scale, repr(sorted(kwargs.items())), shape)
    if key not in ctx.cache:
        ctx.cache[key] = count_complexity(create_model(name, scale, **kwargs), scale, input_kind, shape=shape,
                                          method="extrapolate" if shape is None else "true-size")
    return ctx.cache[key]


def measure_complexity(ctx: MeasureContext, entry: Entry) -> list[Measurement]:
    """Params, Mult-Adds / FLOPs (G, fvcore MACs at 1280×720), #Conv for an entry's model (random init).

    Returns ``params`` always, plus every complexity metric the paper prints for the entry or the entry
    asks for in ``measure`` ("complexity" asks for params, multadds and convs).  Bicubic and paper-only
    entries get nothing; a model that does not upscale (a block, scales = (1,)) gets params only.
    """
    if entry.obtain == "paper-only" or entry.model in (None, "bicubic"):
        return []
    from harness.models import create_model, get_spec

    spec = get_spec(entry.model)
    printed = {(c.scale, c.metric): c for c in entry.paper if c.metric in COMPLEXITY_METRICS}
    asked = {m for m in entry.measure if m in COMPLEXITY_METRICS}
    if "complexity" in entry.measure:
        asked |= {"params", "multadds", "convs"}
    scales = sorted({s for s, _ in printed} | {entry.scale}, key=lambda s: (s is None, s))
    out: list[Measurement] = []
    stated = tuple(entry.count.input) if entry.count.input else None  # suite count.input: count there
    for scale in scales:
        metrics = {"params"} | asked | {m for (s, m) in printed if s == scale}
        upscales = scale is not None and scale > 1 and scale in spec.scales
        if stated is not None:
            built = scale if scale in spec.scales else spec.scales[0]
            try:
                c = _count_cached(ctx, entry.model, built, entry.kwargs, spec.input, stated)
            except ComplexityError as exc:
                out += [Measurement(m, None, scale=scale, status="error", reason=str(exc)) for m in sorted(metrics)]
                continue
            out += _measurements(entry.model, scale, c, metrics, printed, entry.count)
            continue
        if not upscales:
            built = scale if scale in spec.scales else spec.scales[0]
            model = create_model(entry.model, built, **entry.kwargs)
            n, nb = count_params(model), count_params(model, bias=False)
            block = spec.scales == (1,)
            why = "" if block else f" (built for ×{built}: the entry gives no scale the model upscales by)"
            for m, v in (("params", n), ("params_nobias", nb)):
                if m in metrics:
                    what = "all parameters" if m == "params" else "parameters without biases"
                    reason = f"{what} of {entry.model}{why}"
                    out.append(Measurement(m, float(v), scale=scale, reason=reason,
                                           extra={"params": n, "params_nobias": nb}))
            for m in sorted(metrics - {"params", "params_nobias"}):
                cause = "does not upscale" if block else f"has no ×{scale}" if scale else "needs a scale"
                out.append(Measurement(m, None, scale=scale, status="not-run",
                                       reason=f"{entry.model} {cause}: no Mult-Adds at 1280×720"))
            continue
        try:
            c = _count_cached(ctx, entry.model, scale, entry.kwargs, spec.input)
        except ComplexityError as exc:
            out += [Measurement(m, None, scale=scale, status="error", reason=str(exc)) for m in sorted(metrics)]
            continue
        out += _measurements(entry.model, scale, c, metrics, printed, entry.count)
    return out


def _measurements(name: str, scale: int, c: Complexity, metrics: set[str], printed: dict,
                  count=None) -> list[Measurement]:
    """Measurements of one counted model; ``count`` (suite.Count) picks the convention of the value."""
    d = c.to_dict()
    params_conv = getattr(count, "params", "all")
    per_module = d["per_module"]
    out = []
    for m in ("params", "params_nobias"):
        if m in metrics:
            field, what = _PARAMS_CONVENTION[params_conv] if m == "params" else _PARAMS_CONVENTION["no-bias"]
            value = getattr(c, field)
            reason = (f"{what} of {name} ×{scale}" + (" (the suite's convention)" if m == "params" and
                                                       params_conv != "all" else "") +
                      f" ({c.deployed}): with biases {c.params:,}, without {c.params_nobias:,}, "
                      f"conv/linear weights only {c.params_weights:,}")
            pc = printed.get((scale, m))
            if pc is not None and pc.value is not None:
                reason += f"; {explain_params(pc.value, c, pc.printed)}"
            extra = {k: d[k] for k in _PARAMS_FIELDS}
            extra["per_module"] = {k: {"params": v["params"], "params_nobias": v["params_nobias"]}
                                   for k, v in per_module.items()}
            out.append(Measurement(m, float(value), scale=scale, reason=reason, extra=extra))
    for m in ("multadds", "flops"):
        if m in metrics:
            reason = c.summary()
            if c.x3:
                reason += "; ×3 " + ", ".join(f"{k} {v / 1e9:.4f} G" for k, v in c.x3.items())
            if c.uncounted_ops:
                reason += f"; NOT counted (no handler): {c.uncounted_ops}"
            pc = printed.get((scale, m))
            if pc is not None and pc.value is not None:
                reason += f"; {explain_macs(pc.value, c, pc.printed)}"
            extra = {k: d[k] for k in _MACS_FIELDS}
            extra["per_module"] = {k: v["macs"] for k, v in per_module.items()}
            if getattr(count, m, "fvcore") == "deconv-per-output":
                value = c.macs_deconv_per_output
                reason = ("the suite's convention: transposed convs counted per output pixel "
                          f"{value / 1e9:.4f} G; " + reason)
            else:
                value = c.macs_fvcore
            out.append(Measurement(m, value / 1e9, scale=scale, reason=reason, extra=extra))
    if "convs" in metrics:
        reason = (f"convolutions executed in one forward of the deploy form ({c.deployed}): {c.conv_calls}; "
                  f"conv layers (modules with trainable weights): {c.convs}"
                  + (f", plus {c.convs_frozen} frozen" if c.convs_frozen else ""))
        pc = printed.get((scale, "convs"))
        if pc is not None and pc.value is not None and c.conv_calls != c.convs:
            which = [label for label, v in (("executed convolutions", c.conv_calls), ("conv layers", c.convs))
                     if v == pc.value]
            reason += f"; printed {pc.printed} = {' and '.join(which) if which else 'neither'}"
        out.append(Measurement("convs", float(c.conv_calls), scale=scale, reason=reason,
                               extra={k: d[k] for k in _CONVS_FIELDS}))
    return out
