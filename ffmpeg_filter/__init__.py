"""adcvsr-ffmpeg: the FFmpeg bridge of vsadcvsr (decode with FFmpeg, upscale with the engine, encode with FFmpeg)."""
from .bridge import find_ffmpeg, parse_position, upscale_file
from .errors import BridgeError
from .job_options import JobOptions
from .join import join_segments
from .probe import SourceInfo, probe

__all__ = ["BridgeError", "JobOptions", "SourceInfo", "find_ffmpeg", "join_segments", "parse_position", "probe",
           "upscale_file"]
