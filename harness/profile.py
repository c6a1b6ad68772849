"""Metric profiles: every knob that changes a PSNR/SSIM/LPIPS number, explicit and hashed.

See ../shared/docs/conventions.md §1–2.  A suite declares its profile (by name, optionally overriding
fields); every result records the full profile and its hash, so two numbers are only compared when their
profiles agree.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict


class MetricProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "basicsr"
    # SR output before scoring: clamp to [0, 255] then round (BasicSR/RCAN), truncate (CARN's .byte()), or none.
    quantize: Literal["round", "truncate", "none"] = "round"
    # Y channel: ITU-R BT.601 as MATLAB rgb2ycbcr, kept as float, or rounded to uint8 (SelfExSR script).
    y_rounding: Literal["float", "round"] = "float"
    # Luma of one-channel HR images (Set14 'bridge'): the grey value itself, as MATLAB scripts do (they only
    # convert 3-channel images to YCbCr), or BT.601 Y of the grey image replicated to RGB, as Python
    # pipelines that read every image as RGB do (+1.32 dB on bridge, about +0.09 dB on the Set14 mean).
    grey_y: Literal["identity", "bt601"] = "identity"
    # Input of luma-only models (input kinds 'y', 'y_upscaled'): the Y of the uint8 RGB LR image (and its
    # bicubic upscale), or the SRCNN/VDSR MATLAB test pipeline: HR Y in double, bicubic down/up, unquantised.
    y_model_input: Literal["rgb-lr", "matlab-y"] = "rgb-lr"
    # Pixels removed on each side before scoring: "scale" means the SR factor.
    shave: Literal["scale"] | int = "scale"
    # SSIM: Wang et al. ssim_index (11×11 Gaussian σ=1.5, valid) or skimage defaults (7×7 uniform).
    ssim: Literal["wang", "skimage-default"] = "wang"
    # Aggregation over a dataset: mean of per-image values, or PSNR of the pooled MSE.
    aggregation: Literal["mean", "pooled-mse"] = "mean"
    # HR preparation: crop to a multiple of the scale from the top-left corner.
    hr_crop: Literal["mod-scale"] = "mod-scale"
    # LR source: MATLAB-compatible bicubic from HR (harness.imresize), or LR files shipped with the dataset.
    lr: Literal["matlab-bicubic", "dataset-files"] = "matlab-bicubic"
    # LPIPS settings (conventions.md §2).
    lpips_net: Literal["alex", "vgg"] = "alex"
    lpips_version: Literal["0.1"] = "0.1"
    lpips_shave: Literal["scale", "none"] = "none"

    def shave_for(self, scale: int) -> int:
        return scale if self.shave == "scale" else int(self.shave)

    def digest(self) -> str:
        """Short sha256 of the canonical JSON of every field (the name excluded: only knobs count)."""
        knobs = self.model_dump(exclude={"name"})
        blob = json.dumps(knobs, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def record(self) -> dict:
        return {**self.model_dump(), "hash": self.digest()}


# Named profiles a suite can refer to.  Overrides go in the suite's [profile] table.
PROFILES: dict[str, MetricProfile] = {
    # BasicSR / RCAN MATLAB script: float Y, round, shave = scale, Wang SSIM, mean of per-image values.
    "basicsr": MetricProfile(name="basicsr"),
    # SelfExSR MATLAB script (VDSR-era tables, CARN Table 1): Y rounded to uint8 before scoring.
    "selfexsr": MetricProfile(name="selfexsr", y_rounding="round"),
}


def resolve_profile(name: str, overrides: dict | None = None) -> MetricProfile:
    if name not in PROFILES:
        raise KeyError(f"unknown metric profile {name!r}; known: {', '.join(sorted(PROFILES))}")
    base = PROFILES[name]
    if not overrides:
        return base
    return MetricProfile(**{**base.model_dump(), **overrides})
