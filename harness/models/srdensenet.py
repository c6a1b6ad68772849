"""SRDenseNet (Tong, Li, Liu, Gao: "Image super-resolution using dense skip connections", ICCV 2017).

The SRDenseNet_All variant (Sec. 3, Fig. 2(c)) on the LR luma, ×4 only:

- a 3×3 convolution learns low-level features;
- 8 dense blocks of 8 conv 3×3 + ReLU layers with growth rate k = 16; inside a block the i-th layer
  receives the concatenation of the maps of layers 1..i-1 (the first layer gets the block input), and the
  block outputs the 8·k = 128 maps its layers produced (Sec. 3.2, Eq. 1, "growth rate");
- dense skip connections: the low-level features and the outputs of all 8 blocks are concatenated
  (9 × 128 = 1152 maps) and reduced by a 1×1 bottleneck to 256 maps (Sec. 3.3–3.4);
- two 3×3 deconvolutions with stride 2 and 256 maps (Sec. 3.5), then a 3×3 reconstruction conv → 1.

Decisions where the paper is silent: 128 low-level maps (so every block sees 128 input maps), ReLU after
the bottleneck and after each deconvolution, deconvolution padding 1 / output padding 1 (exactly 2h×2w).

Parameter count: **not reproduced**.  This reading gives 2,141,568 conv weights (2,142K; with biases
2,143,489), CARN Table 1 prints 2,015K.  The authors released neither code nor weights, and no reading
of the text tried (low-level width 16/64/128/256, DenseNet-style blocks that also pass the block input,
cumulative block inputs, 4×4 deconvolutions, with/without biases) gives 2,015K together with the
printed 389.9G Mult-Adds (this reading: 227G counting the deconvolutions per input pixel, 737G per
output pixel) — the count is a known discrepancy (an xfail in tests/test_zoo.py).
"""

from __future__ import annotations

import torch
from torch import nn

from harness.models.common import conv2d
from harness.models.registry import register_model

__all__ = ["SRDenseNet"]

SRDENSENET_PAPER = "Tong et al., SRDenseNet (ICCV 2017)"


class DenseBlock(nn.Module):
    """``num_layers`` conv+ReLU layers of ``growth_rate`` maps; layer i sees layers 1..i-1 (layer 1: input)."""

    def __init__(self, in_channels: int, growth_rate: int, num_layers: int):
        super().__init__()
        widths = [in_channels] + [growth_rate * i for i in range(1, num_layers)]
        self.layers = nn.ModuleList(conv2d(w, growth_rate, 3) for w in widths)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [self.relu(self.layers[0](x))]
        for layer in self.layers[1:]:
            outputs.append(self.relu(layer(torch.cat(outputs, dim=1))))
        return torch.cat(outputs, dim=1)


class SRDenseNet(nn.Module):
    """SRDenseNet_All on LR Y in [0, 1], ×4 (two ×2 deconvolutions)."""

    def __init__(self, scale: int = 4, growth_rate: int = 16, num_blocks: int = 8, num_layers: int = 8,
                 low_channels: int = 128, bottleneck_channels: int = 256):
        super().__init__()
        if scale != 4:
            raise ValueError("SRDenseNet is defined for x4 only (two x2 deconvolutions)")
        block_out = growth_rate * num_layers
        self.low = conv2d(1, low_channels, 3)
        self.blocks = nn.ModuleList(
            DenseBlock(low_channels if b == 0 else block_out, growth_rate, num_layers) for b in range(num_blocks)
        )
        self.bottleneck = conv2d(low_channels + num_blocks * block_out, bottleneck_channels, 1)
        self.deconvs = nn.ModuleList(
            nn.ConvTranspose2d(bottleneck_channels, bottleneck_channels, 3, stride=2, padding=1, output_padding=1)
            for _ in range(2)
        )
        self.reconstruct = conv2d(bottleneck_channels, 1, 3)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.low(x))
        levels = [h]
        for block in self.blocks:
            h = block(h)
            levels.append(h)
        h = self.relu(self.bottleneck(torch.cat(levels, dim=1)))  # dense skip connections
        for deconv in self.deconvs:
            h = self.relu(deconv(h))
        return self.reconstruct(h)


@register_model("srdensenet", paper=SRDENSENET_PAPER, scales=(4,), input="y")
def srdensenet(scale: int = 4, **kwargs) -> SRDenseNet:
    """SRDenseNet_All (8 blocks × 8 layers, k = 16) on LR Y, x4; 2,141,568 weights vs CARN Table 1's 2,015K."""
    return SRDenseNet(scale=scale, **kwargs)
