"""vsadcvsr: real-world x4 video super-resolution (AdcVSR) for VapourSynth and FFmpeg.

    import vsadcvsr as adcvsr
    clip = adcvsr.Upscale(clip)
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Upscale", "__version__"]


def __getattr__(name: str) -> Any:
    # The filter imports VapourSynth; load it on first use so the engine, training and FFmpeg code need not.
    if name == "Upscale":
        from .vs_filter import Upscale

        return Upscale
    raise AttributeError(f"module 'vsadcvsr' has no attribute {name!r}")
