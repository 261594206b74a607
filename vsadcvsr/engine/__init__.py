"""Turning a stream of frames into upscaled frames: settings, windows, tiles, precision, colour."""
from .assembler import FrameAssembler, FrameSource
from .settings import Settings, SettingsError
from .stream import upscale_stream
from .upscaler import Upscaler
from .windows import WindowGrid

__all__ = ["FrameAssembler", "FrameSource", "Settings", "SettingsError", "Upscaler", "WindowGrid", "upscale_stream"]
