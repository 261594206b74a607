"""Offline evaluation of x4 video upscalers: fidelity, no-reference quality, temporal consistency, speed.

Modules: `fidelity` (PSNR, SSIM), `warping` (E*warp with DIS flow), `no_reference` (NIQE, BRISQUE), `vmaf`
(VMAF-NEG through FFmpeg), `clips` (reference material), `degrade` (LR inputs), `methods` (the upscalers
compared), `runner` (the protocol) and `report` (tables, crops, plots).
"""
