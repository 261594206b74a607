"""Frames between the FFmpeg pipes and the engine: arrays <-> tensors, and the muxer thread of the encoder pipe."""
from __future__ import annotations

import queue
import threading
from fractions import Fraction
from typing import IO

import av
import numpy as np
import torch


def to_tensor(arr: np.ndarray) -> torch.Tensor:
    """(h, w, 3) uint8/uint16 RGB -> contiguous (3, h, w) float32 in [0, 1]."""
    peak = 65535.0 if arr.dtype == np.uint16 else 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous().to(torch.float32).div_(peak)


def from_tensor(y: torch.Tensor, high: bool) -> np.ndarray:
    """(3, h, w) float RGB -> (h, w, 3) uint8/uint16, quantised where `y` lives (a GPU copies 2-4x fewer bytes)."""
    peak = 65535.0 if high else 255.0
    q = y.detach().mul(peak).add_(0.5).clamp_(0, peak).to(torch.uint16 if high else torch.uint8)
    return q.permute(1, 2, 0).contiguous().cpu().numpy()


def grow_pipe(f: IO[bytes]) -> None:
    """1 MiB pipes instead of 64 KiB: FFmpeg then decodes ahead instead of waiting for each read (Linux only)."""
    try:
        import fcntl

        fcntl.fcntl(f.fileno(), 1031, 1 << 20)  # F_SETPIPE_SZ
    except (ImportError, OSError, ValueError):
        pass


class Writer(threading.Thread):
    """Muxes upscaled frames into the encoder's pipe while the engine computes the next ones."""

    def __init__(self, container: av.container.OutputContainer, stream: av.VideoStream, fmt: str,
                 tb: Fraction) -> None:
        super().__init__(daemon=True)
        self.container, self.stream, self.fmt, self.tb = container, stream, fmt, tb
        self.queue: queue.Queue = queue.Queue(maxsize=3)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while (item := self.queue.get()) is not None:
                arr, pts = item
                frame = av.VideoFrame.from_ndarray(arr, format=self.fmt)
                frame.pts, frame.time_base = pts, self.tb
                for pkt in self.stream.encode(frame):
                    self.container.mux(pkt)
            for pkt in self.stream.encode(None):
                self.container.mux(pkt)
            self.container.close()
        except BaseException as e:  # handed to the main thread
            self.error = e
            while True:  # unblock a producer waiting on a full queue
                try:
                    self.queue.get_nowait()
                except queue.Empty:
                    break

    @classmethod
    def open(cls, pipe: IO[bytes], width: int, height: int, fmt: str, rate: Fraction | None,
             tb: Fraction) -> "Writer":
        """A NUT/rawvideo stream on `pipe`, with the source's time base so every timestamp stays exact."""
        container = av.open(pipe, mode="w", format="nut")
        stream = container.add_stream("rawvideo", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, fmt
        stream.time_base = tb
        stream.codec_context.time_base = tb
        writer = cls(container, stream, fmt, tb)
        writer.start()
        return writer

    def put(self, item: tuple[np.ndarray, int | None]) -> None:
        while self.error is None and self.is_alive():
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue
        self.finish()

    def finish(self) -> None:
        """Ends the stream (None sentinel) and waits; re-raises what the thread met."""
        if self.is_alive() and self.error is None:
            while self.is_alive():
                try:
                    self.queue.put(None, timeout=0.2)
                    break
                except queue.Full:
                    continue
        self.join()
        if self.error is not None:
            raise self.error

    def release(self) -> None:
        """Lets the thread end after a failure (if the queue is full, the closed pipe ends it)."""
        if self.is_alive():
            try:
                self.queue.put_nowait(None)
            except queue.Full:
                pass
