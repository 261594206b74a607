"""Building blocks named as in diffusers so that checkpoints map by name; norms and softmax run in fp32."""
from __future__ import annotations

import platform
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def norm_groups(channels: int) -> int:
    """Groups of the pruned SD UNet: 32, or 24 where 75 % pruning left a width that 32 does not divide."""
    for g in (32, 24, 16, 8, 4, 2, 1):
        if channels % g == 0:
            return g
    return 1


class GroupNorm(nn.GroupNorm):
    """GroupNorm computed in fp32 whatever the input dtype (fp16 overflows on flat regions otherwise)."""

    def forward(self, x: Tensor) -> Tensor:
        if x.dtype == torch.float32:
            return super().forward(x)
        w = None if self.weight is None else self.weight.float()
        b = None if self.bias is None else self.bias.float()
        return F.group_norm(x.float(), self.num_groups, w, b, self.eps).to(x.dtype)


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in fp32."""

    def forward(self, x: Tensor) -> Tensor:
        if x.dtype == torch.float32:
            return super().forward(x)
        return F.layer_norm(x.float(), self.normalized_shape, self.weight.float(), self.bias.float(), self.eps).to(
            x.dtype
        )


def attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Scaled dot-product attention over (N, heads, L, d); the softmax runs in fp32 for half inputs."""
    if q.dtype in (torch.float16, torch.bfloat16):
        return F.scaled_dot_product_attention(q.float(), k.float(), v.float()).to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v)


class ResnetBlock2D(nn.Module):
    """`conv2(silu(norm2(conv1(silu(norm1(x)))))) + shortcut(x)`, no time embedding."""

    def __init__(self, cin: int, cout: int, eps: float = 1e-5, groups: int | None = None) -> None:
        super().__init__()
        self.norm1 = GroupNorm(groups or norm_groups(cin), cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = GroupNorm(groups or norm_groups(cout), cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (x if self.conv_shortcut is None else self.conv_shortcut(x))


class SelfAttention(nn.Module):
    """Multi-head self-attention over tokens (N, L, C); q/k/v without bias as in SD's `attn1`."""

    def __init__(self, channels: int, head_dim: int) -> None:
        super().__init__()
        self.heads = max(1, channels // head_dim)
        self.to_q = nn.Linear(channels, channels, bias=False)
        self.to_k = nn.Linear(channels, channels, bias=False)
        self.to_v = nn.Linear(channels, channels, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(channels, channels)])

    def forward(self, x: Tensor) -> Tensor:
        n, length, c = x.shape
        split = lambda t: t.view(n, length, self.heads, c // self.heads).transpose(1, 2)  # noqa: E731
        o = attention(split(self.to_q(x)), split(self.to_k(x)), split(self.to_v(x)))
        return self.to_out[0](o.transpose(1, 2).reshape(n, length, c))


class GEGLU(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.proj = nn.Linear(cin, cout * 2)

    def forward(self, x: Tensor) -> Tensor:
        h, gate = self.proj(x).chunk(2, dim=-1)
        return h * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, channels: int, mult: int = 4) -> None:
        super().__init__()
        self.net = nn.ModuleList([GEGLU(channels, channels * mult), nn.Identity(),
                                  nn.Linear(channels * mult, channels)])

    def forward(self, x: Tensor) -> Tensor:
        for m in self.net:
            x = m(x)
        return x


class BasicTransformerBlock(nn.Module):
    """Self-attention + GEGLU feed-forward (SD's block with cross-attention `attn2`/`norm2` removed)."""

    def __init__(self, channels: int, head_dim: int) -> None:
        super().__init__()
        self.norm1 = LayerNorm(channels)
        self.attn1 = SelfAttention(channels, head_dim)
        self.norm3 = LayerNorm(channels)
        self.ff = FeedForward(channels)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn1(self.norm1(x))
        return x + self.ff(self.norm3(x))


class Transformer2DModel(nn.Module):
    """GroupNorm, linear proj_in, one transformer block over all positions, proj_out, residual."""

    def __init__(self, channels: int, head_dim: int) -> None:
        super().__init__()
        self.norm = GroupNorm(norm_groups(channels), channels, eps=1e-6)
        self.proj_in = nn.Linear(channels, channels)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(channels, head_dim)])
        self.proj_out = nn.Linear(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        t = self.norm(x).permute(0, 2, 3, 1).reshape(n, h * w, c)
        t = self.proj_in(t)
        for block in self.transformer_blocks:
            t = block(t)
        t = self.proj_out(t)
        return t.reshape(n, h, w, c).permute(0, 3, 1, 2) + x


class VAEAttention(nn.Module):
    """The VAE mid block's single-head spatial attention (q/k/v with bias), residual included."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.group_norm = GroupNorm(32, channels, eps=1e-6)
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(channels, channels)
        self.to_v = nn.Linear(channels, channels)
        self.to_out = nn.ModuleList([nn.Linear(channels, channels)])

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        t = self.group_norm(x).flatten(2).transpose(1, 2)
        q, k, v = (m(t).unsqueeze(1) for m in (self.to_q, self.to_k, self.to_v))
        o = attention(q, k, v).squeeze(1)
        return self.to_out[0](o).transpose(1, 2).reshape(n, c, h, w) + x


class Downsample2D(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample2D(nn.Module):
    """Nearest x2 (or to an explicit size), then a 3x3 conv."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        if size is None:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        else:
            x = F.interpolate(x, size=size, mode="nearest")
        return self.conv(x)


def conv_along_time(x: Tensor, frames: int, conv: nn.Conv1d) -> Tensor:
    """`conv` (Conv1d, kernel 3) along time at every pixel of (B*T, C, H, W) frames, edges replicated:
    → (B*T, C', H, W).

    One Conv3d with a (3, 1, 1) kernel over the (B, C, T, H, W) view of the same memory (in channels_last that view
    is channels_last_3d: no copy), zero-padded in time; the edge taps are then added back for the first and last
    frames (replication). The output keeps the input's memory format."""
    bt, c, h, w = x.shape
    x5 = x.view(bt // frames, frames, c, h, w).permute(0, 2, 1, 3, 4)
    k = conv.weight[:, :, :, None, None]
    out = F.conv3d(x5, k, conv.bias, padding=(1, 0, 0))
    out[:, :, :1] += F.conv3d(x5[:, :, :1], k[:, :, :1])  # frame -1 is frame 0
    out[:, :, -1:] += F.conv3d(x5[:, :, -1:], k[:, :, 2:])  # frame T is frame T-1
    return out.permute(0, 2, 1, 3, 4).reshape(bt, -1, h, w)


class TemporalBlock(nn.Module):
    """`y = x + conv_b(relu(conv_a(x)))` with Conv1d(k=3) along time at every position; edges replicated.

    `conv_b` starts at zero, so a fresh block is the identity.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_a = nn.Conv1d(channels, channels, 3)
        self.conv_b = nn.Conv1d(channels, channels, 3)
        nn.init.zeros_(self.conv_b.weight)
        nn.init.zeros_(self.conv_b.bias)  # type: ignore[arg-type]  # a Conv1d made with bias=True has one

    def forward(self, x: Tensor, frames: int, inplace: bool = False) -> Tensor:
        """(B·T, C, H, W) → the same shape. `inplace`: the result may be written over `x` (the fused CPU path does;
        the caller no longer needs `x`)."""
        if _fusable(x, frames):
            try:
                return self._fused(x if inplace else x.clone(memory_format=torch.channels_last), frames)
            except RuntimeError as e:  # a oneDNN build without these fusions: fails before `x` is written to
                _fusion_unavailable(e)
        h = F.relu(conv_along_time(x, frames, self.conv_a))
        return x + conv_along_time(h, frames, self.conv_b)

    def _fused(self, x: Tensor, frames: int) -> Tensor:
        """The block through oneDNN, written over `x`: the ReLU and the residual sum fused into the convolutions,
        no padded copies (the edge frames take their own two-tap kernels). 63 → 37 ms per block and 8-frame window
        at 320x180 in bf16 on 2 CPU cores; the same numbers within the dtype's rounding."""
        bt, c, h, w = x.shape
        x5 = x.view(bt // frames, frames, c, h, w).permute(0, 2, 1, 3, 4)  # channels_last_3d: no copy
        # zero-padded in time, ReLU fused: right but for the two edge frames, which are then redone
        hidden = torch.ops.mkldnn._convolution_pointwise(x5, self.conv_a.weight[:, :, :, None, None],
                                                         self.conv_a.bias, [1, 0, 0], _ONES, _ONES, 1, "relu", [], "")
        hidden[:, :, :1].zero_()
        hidden[:, :, frames - 1:].zero_()
        _add_conv_along_time(hidden, x5, self.conv_a, relu=True, interior=False)
        _add_conv_along_time(x5, hidden, self.conv_b, relu=False)
        return x


def _add_conv_along_time(out5: Tensor, x5: Tensor, conv: nn.Conv1d, relu: bool, interior: bool = True) -> None:
    """`out5 += conv(x5)` along time with replicated edges (then ReLU where asked), in place, through oneDNN; both
    (B, C, T, H, W) in channels_last_3d. Interior frames take the kernel as it is (`interior` False: they are left
    alone); the first frame sees frames 0, 0, 1 (taps 0 and 1 summed onto frame 0), the last T-2, T-1, T-1."""
    w = conv.weight.float()
    first = torch.stack([w[:, :, 0] + w[:, :, 1], w[:, :, 2]], 2)
    last = torch.stack([w[:, :, 0], w[:, :, 1] + w[:, :, 2]], 2)
    t = x5.shape[2]  # >= 2
    pieces = [(out5[:, :, 1: t - 1], x5, w)] if t > 2 and interior else []
    # the interior first: on the block's input (conv_b's target) the edge calls have already run once, on `hidden`,
    # so that a oneDNN build that refuses one of these calls does so before the input is written to
    pieces += [(out5[:, :, :1], x5[:, :, :2], first), (out5[:, :, t - 1:], x5[:, :, t - 2:], last)]
    fuse = torch.ops.mkldnn._convolution_pointwise_.binary
    for target, source, k in pieces:
        fuse(target, source, k[:, :, :, None, None].to(x5.dtype), conv.bias, [0, 0, 0], _ONES, _ONES, 1, "add", 1.0,
             "relu" if relu else None, [], None)


_ONES = [1, 1, 1]  # oneDNN's stride and dilation in (T, H, W)


def _fusable(x: Tensor, frames: int) -> bool:
    """Whether `TemporalBlock` may take its fused oneDNN path: inference (no autograd) on the CPU, fp32 or bf16,
    one window of two or more channels_last frames, a torch built with oneDNN, not while torch.compile, ONNX
    export or TorchScript traces the network (they see the plain operations)."""
    return (x.device.type == "cpu" and x.dtype in (torch.float32, torch.bfloat16) and not torch.is_grad_enabled()
            and x.shape[0] == frames >= 2 and x.is_contiguous(memory_format=torch.channels_last) and _MKLDNN_FUSION
            and not torch.compiler.is_compiling() and not torch.jit.is_tracing())  # graphs: the plain ops


def _fusion_unavailable(error: RuntimeError) -> None:
    """Turns the fused path off for this process, with one warning."""
    global _MKLDNN_FUSION
    _MKLDNN_FUSION = False
    warnings.warn(f"TemporalBlock: oneDNN's fused convolutions failed ({error}); using the plain operations",
                  RuntimeWarning, stacklevel=3)


# x86 only: oneDNN's fused operations of other builds (ARM's) are not what was measured and tested here
_MKLDNN_FUSION = (platform.machine().lower() in ("x86_64", "amd64") and torch.backends.mkldnn.is_available()
                  and hasattr(torch.ops.mkldnn, "_convolution_pointwise"))
