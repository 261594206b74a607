"""Networks declare what the engine needs (model/hints.py), families register themselves (model/families.py):
the engine names no network kind, and a third family runs through the engine with no engine edit (#13)."""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vsadcvsr.checkpoint import read_info, save_checkpoint
from vsadcvsr.model import (
    CompactConfig,
    EngineHints,
    Family,
    build_model,
    config_from_json,
    engine_hints,
    families,
    get_config,
)

ENGINE = Path(__file__).resolve().parents[1] / "vsadcvsr" / "engine"


def test_the_engine_names_no_network_kind() -> None:
    kinds = re.compile(r"\b(CompactConfig|AdcVSRConfig|CompactVSR|AdcVSR)\b|\.cfg\b|[\"'](compact|adcvsr|tiny)[\"']")
    found = [f"{p.name}:{i}: {line.strip()}" for p in sorted(ENGINE.glob("*.py"))
             for i, line in enumerate(p.read_text().splitlines(), 1) if kinds.search(line)]
    assert not found, "the engine must ask EngineHints, not test network kinds:\n" + "\n".join(found)


def test_the_two_families_declare_their_needs() -> None:
    compact, tiny = engine_hints(get_config("compact")), engine_hints(get_config("tiny"))
    assert (compact.scale, compact.size_multiple, compact.pad, compact.cpu_bf16, compact.fp32_input) == (
        4, 1, 10, True, True)
    assert (tiny.scale, tiny.size_multiple, tiny.cpu_bf16, tiny.fp32_input) == (4, 8, False, False)
    for hints in (compact, tiny):  # the estimate grows with the frame and the window
        small, large = hints.memory_bytes(4, 64, 64, 4, 4), hints.memory_bytes(4, 128, 128, 4, 4)
        assert 0 < small < large < hints.memory_bytes(16, 128, 128, 4, 4)
    assert isinstance(config_from_json(get_config("compact").to_json()), CompactConfig)
    with pytest.raises(ValueError, match="unknown network kind 'nope'"):
        config_from_json(json.dumps({"kind": "nope"}))


# --- a third family, known only to this test ---------------------------------------------------------------

@dataclass(frozen=True)
class ToyConfig:
    gain: float = 1.0
    scale: int = field(default=2, init=False)

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        d.pop("scale")
        return json.dumps({"kind": "toy", **d})


class ToyNet(nn.Module):
    """x2 nearest upscaling times a learnt gain; (B, T, 3, h, w) in [-1, 1] as every family takes."""

    def __init__(self, cfg: ToyConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.gain = nn.Parameter(torch.tensor(cfg.gain))

    def forward(self, x: Tensor, render_chunk: int = 0) -> Tensor:
        b, t = x.shape[:2]
        y = F.interpolate(x.flatten(0, 1).float(), scale_factor=2, mode="nearest") * self.gain
        return y.reshape(b, t, *y.shape[1:])


@pytest.fixture
def toy_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    hints = EngineHints(scale=2, size_multiple=2, fp32_input=True, memory=lambda t, h, w, s, c: 3 * 4 * h * w * t * s)
    monkeypatch.setitem(families._FAMILIES, "toy", Family("toy", ToyConfig, ToyNet, lambda cfg: hints))
    cfg = ToyConfig(gain=0.5)
    path = tmp_path / "toy.safetensors"
    save_checkpoint(path, build_model(cfg).state_dict(), cfg,  # type: ignore[arg-type]
                    provenance="test", licence="n/a")
    return path


def test_a_third_family_runs_through_the_engine_with_no_engine_edit(toy_checkpoint: Path) -> None:
    from vsadcvsr.engine import Upscaler, upscale_stream

    assert isinstance(read_info(toy_checkpoint).config, ToyConfig)
    up = Upscaler(str(toy_checkpoint), colour_fix="none", precision="fp32")
    assert up.scale == 2 and up.size_multiple == 2
    frames = torch.rand(3, 3, 10, 12)
    expected = (F.interpolate(frames * 2 - 1, scale_factor=2, mode="nearest") * 0.5 * 0.5 + 0.5).clamp(0, 1)
    assert torch.allclose(up.upscale_window(frames), expected, atol=1e-6)
    streamed = torch.stack(list(upscale_stream(iter(frames), up, window=2, overlap=1, scene_threshold=0)))
    assert torch.allclose(streamed, expected, atol=1e-6)
    tiled = Upscaler(str(toy_checkpoint), colour_fix="none", precision="fp32", tile=[6, 4], tile_overlap=2)
    assert torch.allclose(tiled.upscale_window(frames), expected, atol=1e-6)  # nearest x2 tiles seamlessly


def test_a_third_family_runs_through_the_vapoursynth_filter(toy_checkpoint: Path) -> None:
    vs = pytest.importorskip("vapoursynth")
    import numpy as np

    import vsadcvsr as adcvsr

    clip = vs.core.std.BlankClip(format=vs.RGBS, width=16, height=8, length=3, color=[0.5, 0.25, 1.0])
    out = adcvsr.Upscale(clip, model=str(toy_checkpoint), window=2, overlap=1, colour_fix="none")
    assert (out.width, out.height, out.num_frames) == (32, 16, 3)
    frame = out.get_frame(2)
    got = [float(np.asarray(frame[p]).mean()) for p in range(3)]
    # (2v - 1) * 0.5 gain, back to [0, 1]: v -> (2v - 1) * 0.25 + 0.5
    assert got == pytest.approx([(2 * v - 1) * 0.25 + 0.5 for v in (0.5, 0.25, 1.0)], abs=1e-6)
