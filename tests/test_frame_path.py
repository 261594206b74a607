"""A frame's path runs one way (#13): requests reserve cached windows and bring what they lack through the graph;
no `get_frame` inside a callback. And the window cache keeps windows with frames still to serve (#14 item 10)."""
from __future__ import annotations

import random
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs
from vs_clips import frame_array, gradient_clip

import vsadcvsr as adcvsr

core = vs.core
PACKAGE = Path(adcvsr.__file__).resolve().parent


@pytest.fixture(scope="module")
def temporal_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random compact network whose temporal blocks are not zero (a window's context changes a frame)."""
    from vsadcvsr.checkpoint import save_checkpoint
    from vsadcvsr.model import CompactConfig, build_model

    cfg = CompactConfig(channels=8, convs=2, temporal="layer", pad=2)
    torch.manual_seed(1)
    model = build_model(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.1)
    path = tmp_path_factory.mktemp("temporal") / "temporal.safetensors"
    save_checkpoint(path, model.state_dict(), cfg, provenance="random weights for tests", licence="n/a")
    return path


class GetFrameCalls:
    """Records `get_frame` calls made by the package's code off the main thread (sys.monitoring, Python 3.12+)."""

    def __init__(self) -> None:
        self.off_main: list[str] = []
        self._main = threading.main_thread()

    def __enter__(self) -> GetFrameCalls:
        mon = sys.monitoring
        self.tool = next(i for i in range(6) if mon.get_tool(i) is None)
        mon.use_tool_id(self.tool, "vsadcvsr-test")

        def on_call(code, offset, callable_, arg0):  # noqa: ANN001
            if not code.co_filename.startswith(str(PACKAGE)):
                return mon.DISABLE
            if getattr(callable_, "__name__", "") == "get_frame" and threading.current_thread() is not self._main:
                self.off_main.append(f"{code.co_filename}:{code.co_name}")
            return None

        mon.register_callback(self.tool, mon.events.CALL, on_call)
        mon.set_events(self.tool, mon.events.CALL)
        return self

    def __exit__(self, *exc: object) -> None:
        mon = sys.monitoring
        mon.set_events(self.tool, 0)
        mon.register_callback(self.tool, mon.events.CALL, None)
        mon.free_tool_id(self.tool)


@pytest.fixture
def tiny_window_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """The filter's window cache at its smallest: 2 windows, no byte budget beyond them."""
    import vsadcvsr.vs_filter as vf

    class Smallest(vf.FrameAssembler):  # type: ignore[misc,valid-type]
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            kwargs["cache_windows"] = 2
            if "cache_bytes" in kwargs:
                kwargs["cache_bytes"] = 0
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(vf, "FrameAssembler", Smallest)


def test_parallel_random_requests_with_a_tiny_cache_never_get_frames_inside_a_callback(
        temporal_ckpt: Path, tiny_window_cache: None) -> None:
    """Rounds of: frame a (both its windows now cached), then at once frame b of the same two windows and two far
    frames (whose windows push a's out of a 2-window cache). Frames equal a serial run, and no get_frame is
    called inside a callback (the old filter's fallback when a window left the cache between its check and use;
    this pattern did not make VapourSynth hit that window on the old code here: see the assembler test below)."""
    length, rng = 90, random.Random(7)
    clip = gradient_clip(vs.RGBS, w=32, h=16, length=length)
    kwargs = dict(model=str(temporal_ckpt), window=4, overlap=2, scene_threshold=0, colour_fix="none")
    rounds = []
    for _ in range(30):  # window k covers 2k..2k+3: frames 2k+2, 2k+3 are in windows k and k+1
        k = rng.randrange(length // 2 - 2)
        far = [n for n in rng.sample(range(length), 12) if abs(n - 2 * k - 2) > 8][:2]
        rounds.append((2 * k + 2, 2 * k + 3, far))
    serial_clip = adcvsr.Upscale(clip, **kwargs)
    serial = {n: frame_array(serial_clip.get_frame(n)) for a, b, far in rounds for n in (a, b, *far)}
    threads = core.num_threads
    core.num_threads = 4
    got = []
    try:
        with GetFrameCalls() as calls:
            out = adcvsr.Upscale(clip, **kwargs)
            for a, b, far in rounds:  # 30 rounds of 4 requests
                got.append((a, frame_array(out.get_frame_async(a).result())))
                futures = [(n, out.get_frame_async(n)) for n in (b, *far)]
                got += [(n, frame_array(f.result())) for n, f in futures]
    finally:
        core.num_threads = threads
    assert len(got) == 120
    assert calls.off_main == [], f"get_frame called inside VapourSynth callbacks: {sorted(set(calls.off_main))}"
    for n, planes in got:
        assert all(np.array_equal(x, y) for x, y in zip(planes, serial[n])), f"frame {n} differs from a serial run"


def count_windows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    from vsadcvsr.engine.upscaler import Upscaler

    calls: list[int] = []
    window = Upscaler.upscale_window

    def counted(self: Upscaler, frames: torch.Tensor) -> torch.Tensor:
        calls.append(len(frames))
        return window(self, frames)

    monkeypatch.setattr(Upscaler, "upscale_window", counted)
    return calls


def test_random_order_requests_compute_each_window_once(temporal_ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_windows(monkeypatch)
    clip = gradient_clip(vs.RGB24, w=16, h=16, length=250)
    out = adcvsr.Upscale(clip, model=str(temporal_ckpt), window=16, overlap=4, scene_threshold=0, colour_fix="none")
    order = list(range(250))
    random.Random(5).shuffle(order)
    for n in order:
        out.get_frame(n)
    windows = (250 - 16 + 11) // 12 + 1  # 21 windows of 16 frames, 12 apart
    assert len(calls) == windows, f"{len(calls)} window computations for {windows} windows"
    calls.clear()
    small = adcvsr.Upscale(clip, model=str(temporal_ckpt), window=16, overlap=4, scene_threshold=0,
                           colour_fix="none", max_memory=4)  # 4 MiB: one window fits, its cache (1 MiB) holds none
    for n in order[:100]:
        small.get_frame(n)
    assert len(calls) > 2 * windows  # the budget is what keeps them


def test_a_reserved_request_keeps_its_windows_while_others_are_computed() -> None:
    """The engine side of the one-way path: windows cached when frame n was reserved cannot leave the cache before
    frame n is made, however many windows other requests compute meanwhile; the request needs no source then."""
    from vsadcvsr.engine import FrameAssembler, WindowGrid

    video = torch.rand(40, 3, 4, 4)

    class Source:
        def __init__(self) -> None:
            self.spans: list[range] = []

        def frames(self, span: range) -> tuple[torch.Tensor, list[bool]]:
            self.spans.append(span)
            return video[span.start:span.stop], [False] * len(span)

    source = Source()
    a = FrameAssembler(lambda x: x.repeat_interleave(4, -1).repeat_interleave(4, -2), WindowGrid(4, 2), 40,
                       cache_windows=2, cache_bytes=0)
    a.frame(6, source)  # windows 2 and 3 computed
    r = a.reserve(7)  # also in windows 2 and 3: both held
    assert len(r.needed) == 0
    for n in (20, 30, 12, 36):  # four other requests compute eight windows in a 2-window cache
        a.frame(n, source)
    computed = a.computed
    expected = video[7].repeat_interleave(4, -1).repeat_interleave(4, -2)
    assert torch.allclose(a.frame(7, None, r), expected)  # no source: the held windows served it
    assert a.computed == computed
    a.frame(24, source)  # released now, windows 2 and 3 leave the cache like any other
    a.frame(32, source)
    r2 = a.reserve(7)
    assert r2.needed == range(4, 10)
    with pytest.raises(RuntimeError, match="neither cached nor given frames"):
        a.frame(7, None, r2)
