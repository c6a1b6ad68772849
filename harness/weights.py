"""Published weights: where they live, how they are verified, and how each file format is decoded.

``load_pretrained(name, scale, weights_dir)`` is the "load" path of the runner:

1. the zoo names the checkpoint (``harness.models``: file relative to the weights dir, sha256, format,
   provenance, third-party flag);
2. ``resolve_weights_dir``: ``--weights-dir``, else ``$SRBENCH_WEIGHTS_DIR``, else the per-user cache
   (``<user cache>/srbench/weights``); the layout under it is that of ``../shared/weights``;
3. ``verify_checkpoint``: the file exists (else ``MissingWeightsError``: which file, the expected path,
   where to get it) and its sha256 matches (else ``CorruptWeightsError`` naming the file and the fix).
   Digests are cached per (path, size, mtime), so loading the same file again costs a ``stat``;
4. the format's decoder turns the file into tensors in PyTorch layout under the *publisher's* names —
   no arbitrary unpickling (``torch.load(weights_only=True)``), MATLAB files through ``scipy.io.loadmat``,
   text through a parser;
5. the model's ``convert_checkpoint(state)`` (next to its architecture, like timm's
   ``checkpoint_filter_fn``) renames them into its own modules; ``load_state_dict(strict=True)``.

Formats (``Checkpoint.format``):

- ``torch-state-dict``: a (legacy or zip) torch serialisation of a state dict, possibly wrapped in
  ``{"state_dict": …}``; a DataParallel ``module.`` prefix is removed.
- ``matlab-struct``: a MAT-file with a struct ``model`` holding cell arrays ``weight`` (h×w×in×out
  per layer, MATLAB drops trailing singleton dims) and ``bias`` (VDSR_Official.mat).  Decoded names:
  ``weight.{i}``, ``bias.{i}`` (0-based layer order).
- ``matconvnet-dagnn``: a MatConvNet DagNN saved with ``saveobj`` (``net.params`` name/value pairs,
  ``net.layers`` with each layer's type and parameter names).  Conv filters are h×w×in×out and
  transposed-conv filters h×w×out×in; both become PyTorch's layout by the same axis permutation
  (3, 2, 0, 1) because MatConvNet's transposed convolution is the adjoint of its (correlation)
  convolution, as in PyTorch.  No spatial flip.  Names are kept (``level1_conv1_f`` …).
- ``srcnn-text``: a directory of SRCNN's six text files ``{weights,biases}_conv{1,2,3}.txt``: a header
  line with the MATLAB array dimensions, then the values in column-major order.  The MATLAB layouts are
  those of the authors' ``SRCNN.m``: conv1 (f1², n1), conv2 (n1, f2², n2), conv3 (n2, f3²), each f×f
  filter reshaped column-major.  Decoded names: ``conv{1,2,3}.{weight,bias}``.  The checkpoint's
  sha256 is that of the sha256sum-style manifest of the six files (``sha256sum *.txt | sort -k2 |
  sha256sum``); each file is hashed, and a ``SHA256SUMS`` in the weights dir names the one that differs.
"""

from __future__ import annotations

import hashlib
import math
import os
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.models.registry import Checkpoint
from harness.util import sha256_file  # one sha256 helper for the whole harness

__all__ = [
    "ENV_VAR",
    "FORMATS",
    "CorruptWeightsError",
    "IncompatibleWeightsError",
    "MissingWeightsError",
    "UnsafeWeightsError",
    "WeightsError",
    "checkpoint_path",
    "load_pretrained",
    "read_checkpoint",
    "resolve_weights_dir",
    "sha256_file",
    "verify_checkpoint",
]

ENV_VAR = "SRBENCH_WEIGHTS_DIR"


class WeightsError(Exception):
    """Published weights could not be used; the message says which file and what to do."""


class MissingWeightsError(WeightsError):
    """The checkpoint file (or the zoo entry for it) is not there."""


class CorruptWeightsError(WeightsError):
    """The file is there but its sha256 differs, or it is truncated / unreadable."""


class UnsafeWeightsError(CorruptWeightsError):
    """A torch file that holds Python objects besides tensors: refused rather than unpickled."""


class IncompatibleWeightsError(WeightsError):
    """A verified file that does not fit the model built (strict ``load_state_dict`` failed)."""


# ---------------------------------------------------------------------------------------------------
# where the weights live

def resolve_weights_dir(arg: str | os.PathLike | None = None) -> Path:
    """The weights directory: ``arg`` (``--weights-dir``), else ``$SRBENCH_WEIGHTS_DIR``, else the cache.

    The per-user cache is ``platformdirs.user_cache_dir("srbench")/weights`` (via ``pooch.os_cache``).
    The directory is not required to exist: a missing file is reported when a checkpoint is loaded.
    """
    if arg:
        return Path(arg).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    import pooch  # a dependency already; its os_cache is platformdirs' user cache dir

    return Path(pooch.os_cache("srbench")) / "weights"


def checkpoint_path(ckpt: Checkpoint, weights_dir: str | os.PathLike) -> Path:
    return Path(weights_dir) / ckpt.file


# ---------------------------------------------------------------------------------------------------
# verification

def _manifest_digest(digests: dict[str, str]) -> str:
    """sha256 of the sha256sum-style manifest ``<sha256>  <name>\\n`` sorted by name."""
    manifest = "".join(f"{digests[name]}  {name}\n" for name in sorted(digests))
    return hashlib.sha256(manifest.encode()).hexdigest()


def _published_sums(weights_dir: Path) -> dict[str, str]:
    """Entries of ``<weights_dir>/SHA256SUMS`` (relative path → sha256), if the file exists."""
    sums = weights_dir / "SHA256SUMS"
    entries: dict[str, str] = {}
    if sums.is_file():
        for line in sums.read_text().splitlines():
            if m := re.fullmatch(r"([0-9a-fA-F]{64}) [ *](?:\./)?(.+)", line.strip()):
                entries[m[2]] = m[1].lower()
    return entries


def _missing(ckpt: Checkpoint, path: Path, what: str, context: str) -> MissingWeightsError:
    return MissingWeightsError(
        f"{context}: {what} not found at {path}. Source: {ckpt.provenance}. Download it and place it at "
        f"{path} (layout as ../shared/weights), or point --weights-dir / ${ENV_VAR} at a folder that has "
        f"'{ckpt.file}' (expected sha256 {ckpt.sha256})."
    )


def _corrupt(ckpt: Checkpoint, path: Path, detail: str, context: str) -> CorruptWeightsError:
    return CorruptWeightsError(
        f"{context}: {path} {detail}. Fix: delete it and download it again (source: {ckpt.provenance}; "
        f"expected sha256 {ckpt.sha256})."
    )


def verify_checkpoint(ckpt: Checkpoint, weights_dir: str | os.PathLike, *, context: str = "") -> Path:
    """Check that the checkpoint exists and matches its sha256; return its path."""
    weights_dir = Path(weights_dir)
    path = checkpoint_path(ckpt, weights_dir)
    context = context or ckpt.file
    fmt = _format(ckpt)
    if fmt.members:  # a directory of files with one combined digest
        if not path.is_dir():
            raise _missing(ckpt, path, f"weights folder '{ckpt.file}'", context)
        digests = {}
        for member in fmt.members:
            if not (path / member).is_file():
                raise _missing(ckpt, path / member, f"weights file '{ckpt.file}/{member}'", context)
            digests[member] = sha256_file(path / member)
        if _manifest_digest(digests) != ckpt.sha256:
            published = _published_sums(weights_dir)
            bad = [m for m in fmt.members if published.get(f"{ckpt.file}/{m}", digests[m]) != digests[m]]
            detail = (f"has a file that differs from the release: {', '.join(bad)}" if bad else
                      "has files whose combined sha256 differs from the release (sha256 of each: "
                      + ", ".join(f"{m} {d}" for m, d in digests.items()) + ")")
            raise _corrupt(ckpt, path, detail, context)
        return path
    if not path.is_file():
        raise _missing(ckpt, path, f"weights file '{ckpt.file}'", context)
    actual = sha256_file(path)
    if actual != ckpt.sha256:
        raise _corrupt(ckpt, path, f"has sha256 {actual} ({path.stat().st_size} bytes): truncated, modified or "
                                   "a different release", context)
    return path


# ---------------------------------------------------------------------------------------------------
# decoders: file → {publisher's name: tensor in PyTorch layout}

StateDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Format:
    decode: Callable[[Path], StateDict]
    members: tuple[str, ...] = ()  # for directory checkpoints: the files that make it up


def _decode_torch(path: Path) -> StateDict:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if m := re.search(r"Unsupported global: GLOBAL (\S+)", str(exc)):
            raise UnsafeWeightsError(
                f"{path}: holds Python objects besides tensors ({m[1]}); refusing to unpickle it "
                "(torch.load weights_only=True). Convert it to a plain state dict where it was made."
            ) from None
        m = re.search(r"WeightsUnpickler error:\s*(.+)", str(exc))
        reason = m[1].strip() if m else type(exc).__name__
        raise CorruptWeightsError(f"{path}: unreadable torch file ({reason[:200]}); download it again") from None
    except Exception as exc:  # noqa: BLE001 — truncated zip / legacy streams raise RuntimeError, EOFError, …
        raise CorruptWeightsError(f"{path}: unreadable torch file ({type(exc).__name__}: {exc}); "
                                  "download it again") from None
    state = _unwrap_state_dict(obj)
    if state is None:
        raise CorruptWeightsError(f"{path}: not a state dict (a mapping of names to tensors)")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _unwrap_state_dict(obj: Any) -> StateDict | None:
    def is_state(d: Any) -> bool:
        return isinstance(d, dict) and bool(d) and all(isinstance(v, torch.Tensor) for v in d.values())

    if is_state(obj):
        return dict(obj)
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "params_ema", "params", "net"):
            if is_state(obj.get(key)):
                return dict(obj[key])
    return None


def _loadmat(path: Path) -> dict:
    from scipy.io import loadmat

    try:
        return loadmat(path, struct_as_record=False, squeeze_me=False)
    except Exception as exc:  # noqa: BLE001 — truncated / not a MAT-file: ValueError, OSError, MatReadError, …
        raise CorruptWeightsError(f"{path}: unreadable MAT-file ({type(exc).__name__}: {exc}); "
                                  "download it again") from None


def _matconvnet_filter(value: Any) -> torch.Tensor:
    """MatConvNet filter h×w×a×b (trailing singleton dims dropped by MATLAB) → PyTorch b×a×h×w."""
    w = np.asarray(value, dtype=np.float32)
    while w.ndim < 4:
        w = w[..., None]
    return torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1)))


def _vector(value: Any) -> torch.Tensor:
    return torch.from_numpy(np.asarray(value, dtype=np.float32).reshape(-1).copy())


def _matstr(value: Any) -> str:
    return str(np.asarray(value).flat[0])


def _decode_matlab_struct(path: Path) -> StateDict:
    mat = _loadmat(path)
    try:
        model = mat["model"][0, 0]
        weights, biases = list(model.weight.flat), list(model.bias.flat)
    except (KeyError, AttributeError, IndexError) as exc:
        raise CorruptWeightsError(f"{path}: no struct 'model' with cell arrays 'weight'/'bias' ({exc})") from None
    if len(weights) != len(biases):
        raise CorruptWeightsError(f"{path}: {len(weights)} weights but {len(biases)} biases")
    state: StateDict = {}
    for i, (w, b) in enumerate(zip(weights, biases)):
        state[f"weight.{i}"] = _matconvnet_filter(w)
        state[f"bias.{i}"] = _vector(b)
    return state


def _decode_dagnn(path: Path) -> StateDict:
    mat = _loadmat(path)
    try:
        net = mat["net"][0, 0]
        layers, params = list(net.layers.flat), list(net.params.flat)
    except (KeyError, AttributeError, IndexError) as exc:
        raise CorruptWeightsError(f"{path}: not a saved DagNN (no net.layers / net.params: {exc})") from None
    roles: dict[str, str] = {}
    for layer in layers:
        names = [_matstr(n) for n in np.asarray(layer.params).flat]
        if _matstr(layer.type) in ("dagnn.Conv", "dagnn.ConvTranspose") and names:
            roles[names[0]] = "filter"
            roles.update((n, "bias") for n in names[1:])
    state: StateDict = {}
    for p in params:
        name = _matstr(p.name)
        role = roles.get(name)
        if role == "filter":
            state[name] = _matconvnet_filter(p.value)
        elif role == "bias":
            state[name] = _vector(p.value)
        else:
            state[name] = torch.from_numpy(np.asarray(p.value, dtype=np.float32).copy())
    return state


_SRCNN_MEMBERS = tuple(f"{kind}_conv{i}.txt" for i in (1, 2, 3) for kind in ("weights", "biases"))


def _read_matlab_text(path: Path) -> np.ndarray:
    """A text file 'd1 d2 …' + values in column-major order → ndarray indexed like the MATLAB array."""
    try:
        header, _, body = path.read_text().partition("\n")
        dims = tuple(int(t) for t in header.split())
        values = np.array(body.split(), dtype=np.float64).astype(np.float32)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise CorruptWeightsError(f"{path}: unreadable weights text ({exc}); download it again") from None
    if not dims or values.size != math.prod(dims):
        raise CorruptWeightsError(f"{path}: header {dims} announces {math.prod(dims) if dims else 0} values, "
                                  f"the file has {values.size}; download it again")
    return values.reshape(dims, order="F")


def _decode_srcnn_text(path: Path) -> StateDict:
    w1, w2, w3 = (_read_matlab_text(path / f"weights_conv{i}.txt") for i in (1, 2, 3))
    k1, k2, k3 = (math.isqrt(n) for n in (w1.shape[0], w2.shape[1], w3.shape[1]))
    n1, n2 = w1.shape[1], w3.shape[0]
    # SRCNN.m: filter i of conv1 is reshape(W1(:, i), f1, f1); conv2 (j → i) is reshape(W2(j, :, i), f2, f2);
    # conv3 from map i is reshape(W3(i, :), f3, f3).  MATLAB's imfilter correlates, like conv2d.
    conv1 = w1.reshape(k1, k1, n1, order="F").transpose(2, 0, 1)[:, None]  # (n1, 1, f1, f1)
    conv2 = w2.reshape(n1, k2, k2, n2, order="F").transpose(3, 0, 1, 2)  # (n2, n1, f2, f2)
    conv3 = w3.reshape(n2, k3, k3, order="F")[None]  # (1, n2, f3, f3)
    state: StateDict = {}
    for i, w in enumerate((conv1, conv2, conv3), start=1):
        state[f"conv{i}.weight"] = torch.from_numpy(np.ascontiguousarray(w))
        state[f"conv{i}.bias"] = _vector(_read_matlab_text(path / f"biases_conv{i}.txt"))
    return state


FORMATS: dict[str, Format] = {
    "torch-state-dict": Format(_decode_torch),
    "matlab-struct": Format(_decode_matlab_struct),
    "matconvnet-dagnn": Format(_decode_dagnn),
    "srcnn-text": Format(_decode_srcnn_text, members=_SRCNN_MEMBERS),
}


def _format(ckpt: Checkpoint) -> Format:
    try:
        return FORMATS[ckpt.format]
    except KeyError:
        raise WeightsError(f"{ckpt.file}: unknown checkpoint format {ckpt.format!r} "
                           f"(known: {', '.join(sorted(FORMATS))})") from None


def read_checkpoint(ckpt: Checkpoint, weights_dir: str | os.PathLike, *, context: str = "") -> StateDict:
    """Verify, then decode a checkpoint into {publisher's name: tensor in PyTorch layout}."""
    path = verify_checkpoint(ckpt, weights_dir, context=context)
    return _format(ckpt).decode(path)


# ---------------------------------------------------------------------------------------------------
# the load path

def load_pretrained(name: str, scale: int, weights_dir: str | os.PathLike | None = None,
                    **kwargs) -> tuple[nn.Module, dict[str, Any]]:
    """Build zoo model ``name`` for ×``scale`` and load its published checkpoint strictly.

    Returns ``(model, info)``, the model in eval mode; ``info`` (also ``model.checkpoint_info``) records
    what was loaded: model, scale, file, path, sha256, format, provenance, third_party, note.
    ``kwargs`` go to ``create_model`` (they must keep the architecture the checkpoint was made for).
    """
    from harness.models import create_model, get_spec

    spec = get_spec(name)
    context = f"{name} x{scale}"
    ckpt = spec.checkpoints.get(scale)
    if ckpt is None:
        have = ", ".join(f"x{s}" for s in sorted(spec.checkpoints)) or "none"
        raise MissingWeightsError(f"{context}: the zoo knows no published checkpoint at this scale "
                                  f"(published: {have}); train it instead")
    wdir = resolve_weights_dir(weights_dir)
    state = read_checkpoint(ckpt, wdir, context=context)
    model = create_model(name, scale, **kwargs)
    convert = getattr(model, "convert_checkpoint", None)
    try:
        if convert is not None:
            state = convert(state)
        model.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise IncompatibleWeightsError(
            f"{context}: {checkpoint_path(ckpt, wdir)} (sha256 verified) does not fit the model built "
            f"with {kwargs or 'default arguments'}: {exc}"
        ) from None
    model.eval()
    info = {
        "model": name,
        "scale": scale,
        "file": ckpt.file,
        "path": str(checkpoint_path(ckpt, wdir)),
        "sha256": ckpt.sha256,
        "format": ckpt.format,
        "provenance": ckpt.provenance,
        "third_party": ckpt.third_party,
        "note": ckpt.note,
    }
    model.checkpoint_info = info
    return model, info
