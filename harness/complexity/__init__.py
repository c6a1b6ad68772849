"""Complexity: parameters, FLOPs / Mult-Adds at 720p and #Conv, device-free and exact.

- ``counting``: the counting engine (fvcore with this harness's handlers, exact extrapolation from small
  sizes, ptflops cross-check, deploy forms) — see its docstring for the method;
- ``conventions``: which counting convention reproduces a printed number;
- ``kind``: the runner's ``complexity`` kind (``measure_complexity``);
- ``zoo``: ``python -m harness.complexity`` counts the whole zoo.
"""

from harness.complexity.conventions import (
    explain_macs,
    explain_params,
    printed_tolerance,
)
from harness.complexity.counting import (
    COMPLEXITY_METRICS,
    OUTPUT_HW,
    X3_DEFAULT,
    X3_ROUNDINGS,
    Complexity,
    ComplexityError,
    _fvcore_counts,
    _ptflops,
    count_complexity,
    count_convs,
    count_layer_weights,
    count_params,
    deploy_model,
    extrapolate_counts,
    input_shape,
    meta_copy,
)
from harness.complexity.kind import _count_cached, measure_complexity
from harness.complexity.zoo import count_zoo, main

__all__ = [
    "COMPLEXITY_METRICS", "OUTPUT_HW", "X3_DEFAULT", "X3_ROUNDINGS", "Complexity", "ComplexityError",
    "_count_cached", "_fvcore_counts", "_ptflops", "count_complexity", "count_convs", "count_layer_weights",
    "count_params", "count_zoo", "deploy_model", "explain_macs", "explain_params", "extrapolate_counts",
    "input_shape", "main", "measure_complexity", "meta_copy", "printed_tolerance",
]
