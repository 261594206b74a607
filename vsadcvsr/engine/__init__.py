"""Turning a stream of frames into upscaled frames: windows, tiles, precision, colour."""
from .assembler import FrameAssembler
from .stream import upscale_stream
from .upscaler import Upscaler
from .windows import WindowGrid

__all__ = ["FrameAssembler", "Upscaler", "WindowGrid", "upscale_stream"]
