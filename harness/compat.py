"""The one place that makes torchvision importable next to the CPU build of torch (see README).

PyPI has only a CUDA build of torchvision 0.28.0, the sole release for torch 2.13.0.  Its C extension
cannot load next to CPU torch, so ``import torchvision`` fails with
``RuntimeError: operator torchvision::nms does not exist`` (raised while registering meta kernels).
``lpips`` imports torchvision (for AlexNet/VGG definitions), and ``ptflops`` imports it whenever it is
installed, so both fail too.

``ensure_torchvision()``, called before anything imports torchvision, first tries to load the real
extension; only if that fails does it declare the two operator schemas the import needs (``nms``,
``qnms``) without kernels.  Model definitions and transforms then work on CPU; ``torchvision.ops`` and
``torchvision.io`` codecs do not (the harness uses Pillow).  On a machine with a matching torchvision
the real extension loads and nothing is declared.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

_state: dict[str, str] = {}
_keep: list = []  # torch.library.Library objects must stay alive for the schemas to stay registered


def ensure_torchvision() -> str:
    """Make ``import torchvision`` work; returns how: 'already-imported', 'native', 'schema-shim', 'absent'."""
    if "mode" in _state:
        return _state["mode"]
    if "torchvision" in sys.modules:
        return _state.setdefault("mode", "already-imported")
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return _state.setdefault("mode", "absent")
    pkg_dir = Path(next(iter(spec.submodule_search_locations)))
    for lib in sorted(pkg_dir.glob("_C*.so")) + sorted(pkg_dir.glob("_C*.pyd")):
        try:
            torch.ops.load_library(str(lib))
            return _state.setdefault("mode", "native")
        except (OSError, RuntimeError):
            pass
    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _keep.append(lib)
    return _state.setdefault("mode", "schema-shim")
