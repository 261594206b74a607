"""The AdcVSR network: sizes, the upstream AdcSR forward pass, zero-initialised temporal blocks, odd sizes."""
from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from reference_weights import REFERENCE, write_adcsr_files
from safetensors.torch import load_file

from vsadcvsr.adcsr_import import import_adcsr
from vsadcvsr.checkpoint import CheckpointError, load_model
from vsadcvsr.model import AdcVSR, count_parameters, get_config


def meta_params(name: str) -> int:
    with torch.device("meta"):
        return count_parameters(AdcVSR(get_config(name)))


def test_paper_size_parameter_counts() -> None:
    assert abs(meta_params("adcvsr") - 0.573e9) / 0.573e9 < 0.01
    assert abs(meta_params("adcvsr-block") - 0.487e9) / 0.487e9 < 0.01
    assert meta_params("adcsr") == 456_073_683  # the public AdcSR tensors, nothing more


def test_without_temporal_blocks_the_network_has_exactly_the_adcsr_tensors() -> None:
    import json

    with torch.device("meta"):
        ours = {k: list(v.shape) for k, v in AdcVSR(get_config("adcsr")).state_dict().items()}
    net = json.loads((REFERENCE / "adcsr_net_params.json").read_text())
    dec = json.loads((REFERENCE / "adcsr_half_decoder_params.json").read_text())
    expected = {("unet." + k[14:] if k.startswith("module.body.1.") else "decoder.mid_block." + k[14:]): v
                for k, v in net.items()}
    expected.update({"decoder." + k: v for k, v in dec.items()
                     if k.startswith(("up_blocks", "conv_norm_out", "conv_out"))})
    assert ours == expected


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("adcsr")
    net, dec = write_adcsr_files(folder)
    out = folder / "adcvsr.safetensors"
    import_adcsr(net, dec, out)
    yield folder, out
    shutil.rmtree(folder, ignore_errors=True)  # 4 GB: a full suite must fit a small CI disk


@pytest.mark.slow
def test_imported_paper_model_reproduces_the_upstream_adcsr_forward_pass(imported) -> None:
    _, path = imported
    model, info = load_model(path)
    assert info.metadata["licence"].startswith("Apache-2.0")
    fixture = load_file(str(REFERENCE / "adcsr_forward_fixture.safetensors"))
    x = fixture["input"] * 2 - 1
    frames = torch.cat([x, x.flip(-1)])[None]  # two different frames: temporal blocks are zero, so per frame
    with torch.inference_mode():
        out = model.forward_features(frames)
    assert (out.feature[0, 0] - fixture["feature"][0]).abs().max() < 1e-4
    assert (out.image[0, 0] - fixture["output"][0]).abs().max() < 1e-4


@pytest.mark.slow
def test_importer_rejects_a_wrong_shape_and_a_missing_key(tmp_path) -> None:
    from reference_weights import half_decoder_checkpoint, net_params_state

    state = net_params_state()
    key = "module.body.1.conv_in.weight"
    bad = dict(state)
    bad[key] = torch.zeros(240, 12, 1, 1)
    torch.save(bad, tmp_path / "bad.pkl")
    torch.save(half_decoder_checkpoint(), tmp_path / "dec.ckpt")
    with pytest.raises(CheckpointError, match=r"wrong shape.*unet\.conv_in\.weight"):
        import_adcsr(tmp_path / "bad.pkl", tmp_path / "dec.ckpt", tmp_path / "o.safetensors")
    (tmp_path / "bad.pkl").unlink()  # 1.8 GB each: one at a time
    missing = {k: v for k, v in state.items() if "mid_block.attentions.0.proj_out.bias" not in k}
    torch.save(missing, tmp_path / "missing.pkl")
    with pytest.raises(CheckpointError, match=r"missing.*unet\.mid_block\.attentions\.0\.proj_out\.bias"):
        import_adcsr(tmp_path / "missing.pkl", tmp_path / "dec.ckpt", tmp_path / "o.safetensors")
    assert not (tmp_path / "o.safetensors").exists()


def test_importer_names_a_missing_file(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        import_adcsr(tmp_path / "nope.pkl", tmp_path / "nope.ckpt", tmp_path / "o.safetensors")


@pytest.mark.parametrize("name", ["tiny", "adcvsr-block"])
def test_zero_initialised_temporal_blocks_give_the_per_frame_network(name: str) -> None:
    cfg = get_config(name)
    if name != "tiny":  # a narrow stand-in with the same block layout keeps this fast
        cfg = cfg.replace(widths=(32, 64, 64, 64), head_dim=16, latent_channels=32, decoder_widths=(32, 32, 16, 16))
    torch.manual_seed(0)
    video = AdcVSR(cfg).eval()
    image = AdcVSR(cfg.replace(temporal="none")).eval()
    missing, unexpected = image.load_state_dict(video.state_dict(), strict=False)
    assert not missing and unexpected and all(".temporals." in k for k in unexpected)
    x = torch.rand(1, 5, 3, 32, 48) * 2 - 1
    with torch.inference_mode():
        together = video(x)
        same_batch = image(x)
        per_frame = torch.cat([image(x[:, i : i + 1]) for i in range(5)], dim=1)
    assert (together - same_batch).abs().max() < 1e-6
    assert (same_batch - per_frame).abs().max() < 1e-4  # batch size changes the conv kernels' summation order


def test_nonzero_temporal_blocks_mix_neighbouring_frames() -> None:
    torch.manual_seed(0)
    model = AdcVSR(get_config("tiny")).eval()
    for n, p in model.named_parameters():
        if ".conv_b." in n:
            p.data.normal_(0, 0.05)
    x = torch.rand(1, 3, 3, 32, 32) * 2 - 1
    y = x.clone()
    y[:, 2] = -y[:, 2]  # change only the last frame
    with torch.inference_mode():
        assert (model(x)[:, 1] - model(y)[:, 1]).abs().max() > 1e-4


@pytest.mark.parametrize("size", [(17, 23), (36, 50), (16, 16), (9, 31)])
def test_output_is_four_times_any_input_size(size: tuple[int, int]) -> None:
    model = AdcVSR(get_config("tiny")).eval()
    h, w = size
    with torch.inference_mode():
        out = model(torch.rand(1, 2, 3, h, w) * 2 - 1)
    assert out.shape == (1, 2, 3, 4 * h, 4 * w)
    assert torch.isfinite(out).all()


def test_half_precision_keeps_norms_finite_on_flat_frames() -> None:
    model = AdcVSR(get_config("tiny")).eval().to(torch.bfloat16)
    flat = torch.full((1, 2, 3, 32, 32), 0.25, dtype=torch.bfloat16)
    with torch.inference_mode():
        assert torch.isfinite(model(flat).float()).all()


def test_checkpoint_loading_reports_what_does_not_fit(tmp_path) -> None:
    from vsadcvsr.checkpoint import save_checkpoint

    cfg = get_config("tiny")
    state = AdcVSR(cfg).state_dict()
    state["decoder.conv_out.weight"] = torch.zeros(1, 1, 1, 1)
    del state["unet.conv_in.bias"]
    save_checkpoint(tmp_path / "bad.safetensors", state, cfg, provenance="test", licence="n/a")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "bad.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    assert [p.name for p in tmp_path.iterdir()] == ["bad.safetensors"]
    with pytest.raises(CheckpointError, match=r"1 missing \(e\.g\. unet\.conv_in\.bias\).*wrong shape.*conv_out"):
        load_model(tmp_path / "bad.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_model(tmp_path / "junk.safetensors")


@pytest.mark.slow
def test_import_command_writes_a_loadable_checkpoint(imported, tmp_path) -> None:
    import subprocess
    import sys

    folder, _ = imported
    out = tmp_path / "cli.safetensors"
    run = subprocess.run([sys.executable, "-m", "vsadcvsr", "import-adcsr", str(folder / "net_params_200.pkl"),
                          str(folder / "halfDecoder.ckpt"), "-o", str(out), "--config", "adcvsr-block"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    model, info = load_model(out)
    assert info.config.temporal == "block"
    bad = subprocess.run([sys.executable, "-m", "vsadcvsr", "import-adcsr", "nope.pkl", "nope.ckpt", "-o", str(out)],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "error: AdcSR net params not found" in bad.stderr


def test_atomic_write_leaves_the_old_file_when_the_writer_fails(tmp_path) -> None:
    from vsadcvsr.files import atomic_write

    target = tmp_path / "model.safetensors"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as tmp:
            Path(tmp).write_bytes(b"half")
            raise RuntimeError("writer failed")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


@pytest.mark.parametrize("frames", [1, 2, 5])
def test_a_temporal_block_is_a_conv1d_along_time_with_replicated_edges(frames: int) -> None:
    from vsadcvsr.model.layers import TemporalBlock

    torch.manual_seed(frames)
    tb = TemporalBlock(6)
    torch.nn.init.normal_(tb.conv_b.weight, std=0.3)
    torch.nn.init.normal_(tb.conv_b.bias, std=0.3)
    x = torch.randn(2 * frames, 6, 5, 4)

    def conv1d(v: torch.Tensor, conv: torch.nn.Conv1d) -> torch.Tensor:  # the definition, position by position
        seq = v.view(2, frames, 6, 5, 4).permute(0, 3, 4, 2, 1).reshape(-1, 6, frames)
        out = conv(F.pad(seq, (1, 1), mode="replicate"))
        return out.view(2, 5, 4, 6, frames).permute(0, 4, 3, 1, 2).reshape(2 * frames, 6, 5, 4)

    want = x + conv1d(F.relu(conv1d(x, tb.conv_a)), tb.conv_b)
    tb_bf16 = copy.deepcopy(tb).to(torch.bfloat16)
    for layout in (torch.contiguous_format, torch.channels_last):
        got = tb(x.contiguous(memory_format=layout), frames)
        assert torch.allclose(got, want, atol=1e-5), layout
        with torch.inference_mode():  # one window in channels_last: the fused oneDNN path where torch has it
            one = x[:frames].contiguous(memory_format=layout)
            got = tb(one, frames)
            assert got.is_contiguous(memory_format=layout)
            assert torch.allclose(got, want[:frames], atol=1e-5), layout
            got = tb_bf16(one.to(torch.bfloat16), frames)
            assert got.dtype == torch.bfloat16 and got.is_contiguous(memory_format=layout)
            assert (got.float() - want[:frames]).abs().max() < 0.05 * want.abs().max(), layout


def test_a_failing_fused_temporal_block_falls_back_to_the_plain_operations(monkeypatch: pytest.MonkeyPatch) -> None:
    from vsadcvsr.model import layers

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no such fusion in this build")

    torch.manual_seed(0)
    block = layers.TemporalBlock(6)
    torch.nn.init.normal_(block.conv_b.weight, std=0.3)
    x = torch.randn(4, 6, 5, 4).contiguous(memory_format=torch.channels_last)
    want = block(x, 4)  # autograd on: the plain path
    monkeypatch.setattr(layers, "_MKLDNN_FUSION", True)
    monkeypatch.setattr(layers.TemporalBlock, "_fused", broken)
    with torch.inference_mode(), pytest.warns(RuntimeWarning, match="plain operations"):
        got = block(x, 4, inplace=True)
    assert torch.allclose(got, want, atol=1e-6) and not layers._MKLDNN_FUSION  # off for the rest of the process


def test_the_fused_temporal_block_is_taken_for_channels_last_inference_on_the_cpu() -> None:
    from vsadcvsr.model import layers

    x = torch.randn(4, 6, 5, 4).contiguous(memory_format=torch.channels_last)
    assert not layers._fusable(x, 4)  # autograd on: the plain path
    with torch.inference_mode():
        assert layers._fusable(x, 4) == layers._MKLDNN_FUSION
        assert not layers._fusable(x, 2)  # two windows in one batch: the plain path
        assert not layers._fusable(x[:1], 1)  # one frame: the plain path
        assert not layers._fusable(x.contiguous(), 4)
        assert not layers._fusable(x.half(), 4)
        block = layers.TemporalBlock(6)
        before = x.clone()
        block(x, 4)
        assert torch.equal(x, before)  # the input is left as it was unless the caller allows otherwise
        y = block(x, 4, inplace=True)
        assert y.data_ptr() == x.data_ptr() or not layers._MKLDNN_FUSION
