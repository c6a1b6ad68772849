"""DRCN (Kim, Lee, Lee: "Deeply-recursive convolutional network for image super-resolution", CVPR 2016).

Three sub-networks on the bicubic-upscaled luma (Sec. 3, Fig. 2–3), all 3×3 convolutions, F = 256 maps:

- embedding net f1: two conv + ReLU layers (1 → F, F → F), giving H_0;
- inference net f2: **one** conv + ReLU (F → F) applied recursively D = 16 times with shared weights,
  H_d = ReLU(W * H_{d-1} + b), d = 1..D;
- reconstruction net f3: two layers (F → F with ReLU, F → 1), shared by every recursion.

Advanced model (Sec. 3.3, Fig. 3): recursive supervision — every H_d is reconstructed, with a skip
connection adding the input, ŷ_d = x + f3(H_d) — and the output is the learned weighted sum
ŷ = Σ_d w_d · ŷ_d (Eq. 6–7).  ``forward_all`` returns the D intermediate predictions for training.

Ambiguities, resolved as stated: the reconstruction output is linear (the text writes max(0, ·) for
f3's last layer, which cannot produce the negative residuals the skip connection needs); the ensemble
weights w_d start at 1/D; no normalisation of w_d is applied (Eq. 7 has none).

Parameter count (CARN Table 1 prints 1,774K): conv weights 9·256 + 3·9·256·256 + 9·256 = 1,774,080
plus the D = 16 ensemble weights = 1,774,096 → 1,774K, **weights only** (the 1,025 biases would give
1,775K).  No published weights are available here (the authors released none in a loadable form).

Mult-Adds: CARN Table 1's 9,788.7G is (9·256 + 589,824 + 16·589,824 + 589,824 + 9·256) MACs per HR pixel
× 1280·720, i.e. the reconstruction net counted **once**; the advanced model as built here reconstructs
every recursion (D predictions for the ensemble), 17,974G.  The difference is CARN's counting, not the
architecture.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.models.common import conv2d
from harness.models.registry import register_model

__all__ = ["DRCN"]

DRCN_PAPER = "Kim et al., DRCN (CVPR 2016)"


class DRCN(nn.Module):
    """DRCN with recursive supervision and skip connection; D recursions of one shared F×F conv."""

    def __init__(self, channels: int = 256, recursions: int = 16):
        super().__init__()
        self.recursions = recursions
        self.relu = nn.ReLU()
        self.embed = nn.Sequential(conv2d(1, channels, 3), nn.ReLU(), conv2d(channels, channels, 3), nn.ReLU())
        self.infer = conv2d(channels, channels, 3)  # the single recursive layer (shared weights)
        self.reconstruct = nn.Sequential(conv2d(channels, channels, 3), nn.ReLU(), conv2d(channels, 1, 3))
        self.ensemble = nn.Parameter(torch.full((recursions,), 1.0 / recursions))  # w_d of Eq. 7

    def forward_all(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The D intermediate predictions ŷ_d = x + f3(H_d) (recursive supervision, Eq. 6)."""
        h = self.embed(x)
        preds = []
        for _ in range(self.recursions):
            h = self.relu(self.infer(h))
            preds.append(x + self.reconstruct(h))
        return preds

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        preds = self.forward_all(x)
        return sum(w * p for w, p in zip(self.ensemble, preds))


@register_model("drcn", paper=DRCN_PAPER, scales=(2, 3, 4), input="y_upscaled")
def drcn(scale: int = 4, **kwargs) -> DRCN:
    """DRCN, F = 256, D = 16 recursions, on bicubic-upscaled Y; 1,774,096 weights — CARN Table 1: 1,774K."""
    return DRCN(**kwargs)
