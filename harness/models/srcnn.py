"""SRCNN (Dong, Loy, He, Tang: "Learning a deep convolutional network for image super-resolution",
ECCV 2014; "Image super-resolution using deep convolutional networks", TPAMI 2016).

Three convolutions on the bicubic-upscaled luma (Sec. 3.1–3.2 of the TPAMI paper):
patch extraction f1×f1 → n1 maps, ReLU; non-linear mapping f2×f2 → n2, ReLU; reconstruction f3×f3 → 1.
The registered model is the 9-5-5 network (f = 9, 5, 5; n1 = 64, n2 = 32) that CARN Table 1 compares.

Parameter count (CARN Table 1 prints 57K): convolution weights 9·9·64 + 5·5·64·32 + 5·5·32 = 57,184,
biases 97 more (57,281).  Both round to 57K; "weights only" is the convention the other CARN Table 1
baselines need (see ``fsrcnn``, ``vdsr``, ``drcn``), so that is the one this entry states.

Padding: the authors' test code (``SRCNN.m``) filters with ``imfilter(..., 'same', 'replicate')``, so the
output has the input's size and the border is replicated — ``padding_mode="replicate"`` here.  (Training
in the paper used valid convolutions on 33×33 patches; at test time 'same'+replicate is what produced
the published numbers.)

Published weights: the authors' ImageNet-trained 9-5-5 ×4 model, redistributed as text files (one per
layer, values in MATLAB column-major order; decoded by ``harness.weights``).
"""

from __future__ import annotations

import torch
from torch import nn

from harness.models.common import conv2d
from harness.models.registry import Checkpoint, register_model

__all__ = ["SRCNN"]

SRCNN_PAPER = "Dong et al., SRCNN (ECCV 2014; TPAMI 2016)"


class SRCNN(nn.Module):
    """SRCNN f1-f2-f3 (default 9-5-5, n1 = 64, n2 = 32) on bicubic-upscaled Y in [0, 1]."""

    def __init__(self, channels: tuple[int, int] = (64, 32), kernel_sizes: tuple[int, int, int] = (9, 5, 5),
                 padding_mode: str = "replicate"):
        super().__init__()
        n1, n2 = channels
        f1, f2, f3 = kernel_sizes
        self.conv1 = conv2d(1, n1, f1, padding_mode=padding_mode)  # patch extraction and representation
        self.conv2 = conv2d(n1, n2, f2, padding_mode=padding_mode)  # non-linear mapping
        self.conv3 = conv2d(n2, 1, f3, padding_mode=padding_mode)  # reconstruction
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(self.relu(self.conv2(self.relu(self.conv1(x)))))


# SRCNN-cpp ships the six files of the authors' x4.mat.  The checkpoint is a directory: its sha256 is the
# digest of the sha256sum-style manifest of the six files (``sha256sum *.txt | sort -k2 | sha256sum``);
# harness.weights recomputes it and, with a SHA256SUMS beside, names the file that differs.
_SRCNN_X4 = Checkpoint(
    file="srcnn_x4",
    sha256="463b8f54fac68230de6d0418ce5650e39e5cd3ff7a042b42d08ba34c51ed9c67",
    format="srcnn-text",
    provenance="SRCNN authors' 9-5-5 ImageNet x4 model (model/9-5-5(ImageNet)/x4.mat of the SRCNN release), "
               "as text files in Cuda-Chen/SRCNN-cpp (MIT), folder model/",
    note="directory checkpoint: weights_conv{1,2,3}.txt and biases_conv{1,2,3}.txt",
)


@register_model("srcnn", paper=SRCNN_PAPER, scales=(2, 3, 4), input="y_upscaled", checkpoints={4: _SRCNN_X4})
def srcnn(scale: int = 4, **kwargs) -> SRCNN:
    """SRCNN 9-5-5 on bicubic-upscaled Y; 57,184 weights (+97 biases) — CARN Table 1: 57K."""
    return SRCNN(**kwargs)
