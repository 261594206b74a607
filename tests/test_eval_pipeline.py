"""The evaluation pipeline of vsadcvsr.eval and scripts/evaluate.py on small synthetic clips."""
from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import script_module
from skimage import data

from vsadcvsr.eval import report
from vsadcvsr.eval.clips import ClipError, bikes_path, centre_crop, crop_box, parse_source, read_frames, reference_clips
from vsadcvsr.eval.degrade import bicubic_down, make_lr
from vsadcvsr.eval.methods import MethodUnavailable, Ours, build_method, strip_temporal
from vsadcvsr.eval.runner import NOT_COMPUTED, Clip, evaluate

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def hr_clip() -> np.ndarray:
    """Four frames of a slow pan, 128x96, uint8 RGB."""
    img = data.chelsea()
    return np.stack([img[60:156, 80 + 2 * i:208 + 2 * i] for i in range(4)])


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from vsadcvsr.checkpoint import save_checkpoint
    from vsadcvsr.model import AdcVSR, get_config

    torch.manual_seed(0)
    cfg = get_config("tiny")
    path = tmp_path_factory.mktemp("ckpt") / "tiny_random.safetensors"
    save_checkpoint(path, AdcVSR(cfg).state_dict(), cfg, provenance="random test weights", licence="n/a")
    return path


def test_crop_box_is_centred_and_aligned_to_the_scale() -> None:
    assert crop_box(272, 640, 512, 512) == (0, 64, 272, 512)
    y, x, h, w = crop_box(103, 130, 50, 50)
    assert (y % 4, x % 4, h, w) == (0, 0, 48, 48)


def test_centre_crop_cuts_every_frame(hr_clip: np.ndarray) -> None:
    assert centre_crop(hr_clip, 64, 80).shape == (4, 64, 80, 3)


def test_read_frames_reads_a_folder_in_name_order(tmp_path: Path, hr_clip: np.ndarray) -> None:
    for i, f in enumerate(hr_clip):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    got = read_frames(tmp_path, 1, 3)
    assert np.array_equal(got, hr_clip[1:3])


def test_read_frames_decodes_a_range_of_a_video() -> None:
    try:
        path = bikes_path()
    except FileNotFoundError as e:
        pytest.skip(str(e))
    got = read_frames(path, 2, 5)
    assert got.shape == (3, 272, 640, 3) and got.dtype == np.uint8


def test_bicubic_degradation_divides_the_size_by_four(hr_clip: np.ndarray) -> None:
    lr, how = make_lr(hr_clip, "bicubic")
    assert lr.shape == (4, 24, 32, 3) and lr.dtype == np.uint8 and how == "bicubic"
    assert np.abs(lr.astype(float) - bicubic_down(hr_clip) * 255).max() <= 0.5 + 1e-6


def test_training_degradation_is_fixed_by_its_seed(hr_clip: np.ndarray) -> None:
    a, how = make_lr(hr_clip, "mild", seed=3)
    b, _ = make_lr(hr_clip, "mild", seed=3)
    assert a.shape == (4, 24, 32, 3)
    assert np.array_equal(a, b)
    assert how.startswith("mild") or "fallback" in how


@pytest.mark.parametrize("name", ["lanczos", "bicubic"])
def test_interpolators_upscale_by_four(name: str, hr_clip: np.ndarray) -> None:
    out = build_method(name).upscale(hr_clip[:, :24, :32])
    assert out.shape == (4, 96, 128, 3) and out.dtype == np.uint8


def test_realesrgan_animevideov3_upscales_by_four_and_keeps_stdout_clean(hr_clip: np.ndarray, capfd) -> None:
    try:
        m = build_method("realesrgan-animevideov3")
    except MethodUnavailable as e:
        pytest.skip(str(e))
    assert m.upscale(hr_clip[:1, :16, :20]).shape == (1, 64, 80, 3)
    out, err = capfd.readouterr()
    assert out == ""  # ncnn's progress lines go to stderr: evaluate.py's report is on stdout


def test_a_blend_is_the_weighted_mean_of_its_methods(hr_clip: np.ndarray) -> None:
    lr = hr_clip[:2, :24, :32]
    m = build_method("blend:lanczos=3,bicubic=1")
    want = 0.75 * build_method("lanczos").upscale(lr).astype(np.float32) + 0.25 * build_method("bicubic").upscale(lr)
    out = m.upscale(lr)
    assert out.dtype == np.uint8 and np.abs(out - want).max() <= 0.5 + 1e-3
    assert m.name == "blend[3 lanczos + 1 bicubic]"
    for bad in ("blend:lanczos", "blend:lanczos=0,bicubic=1", "blend:nearest=1"):
        with pytest.raises(ValueError):
            build_method(bad)


def test_unknown_method_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="lanczos"):
        build_method("nearest")


def test_strip_temporal_drops_the_temporal_blocks(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from safetensors import safe_open

    from vsadcvsr.checkpoint import load_model, read_info

    out = strip_temporal(tiny_checkpoint, tmp_path / "2d.safetensors")
    assert read_info(out).config.temporal == "none"
    with safe_open(str(out), framework="pt") as f:
        assert not any(".temporals." in k for k in f.keys())
    load_model(out)  # strict: every remaining tensor fits the 2D network


@pytest.mark.parametrize("spec", ["ours:{}", "ours-2d:{}"])
def test_ours_upscales_a_clip_by_four(spec: str, tiny_checkpoint: Path, hr_clip: np.ndarray) -> None:
    m = build_method(spec.format(tiny_checkpoint))
    out = m.upscale(hr_clip[:3, :16, :24])
    assert out.shape == (3, 64, 96, 3) and out.dtype == np.uint8


def test_ours_without_weights_is_unavailable() -> None:
    with pytest.raises(MethodUnavailable):
        Ours("ours", "/nonexistent/model.safetensors").load()


@pytest.fixture(scope="module")
def evaluation(hr_clip: np.ndarray):
    lr, how = make_lr(hr_clip, "bicubic")
    clips = [Clip("a", hr_clip, lr, how), Clip("b", hr_clip[:, :, ::-1].copy(), lr[:, :, ::-1].copy(), how)]
    missing = Ours("ours-missing", "/nonexistent/model.safetensors")
    return evaluate(clips, [build_method("lanczos"), build_method("bicubic"), missing],
                    metrics=["psnr", "ssim", "brisque", "ewarp"])


def test_evaluate_scores_every_method_on_every_clip(evaluation) -> None:
    assert [(s.clip, s.method) for s in evaluation.scores] == [("a", "lanczos"), ("a", "bicubic"),
                                                               ("b", "lanczos"), ("b", "bicubic")]
    s = evaluation.scores[0]
    assert 15 < s.values["psnr"] < 50 and 0 < s.values["ssim"] < 1 and s.seconds_per_frame > 0


def test_evaluate_skips_an_unavailable_method_with_a_note(evaluation) -> None:
    assert any(n.startswith("ours-missing skipped") for n in evaluation.notes)


def test_mean_weighs_each_clip_the_same(evaluation) -> None:
    a, b = (s.values["psnr"] for s in evaluation.scores if s.method == "lanczos")
    assert evaluation.mean("lanczos").values["psnr"] == pytest.approx((a + b) / 2)


def test_reference_floor_holds_no_reference_metrics_only(evaluation) -> None:
    ref = evaluation.reference["a"]
    assert set(ref) == {"brisque", "ewarp"} and math.isfinite(ref["ewarp"])


def test_markdown_lists_methods_reference_and_metrics_not_computed(evaluation) -> None:
    text = report.markdown(evaluation)
    for word in ["lanczos", "bicubic", report.REFERENCE, *NOT_COMPUTED]:
        assert word in text
    assert "VMAF" not in text.split("Notes:")[0]  # only the metrics asked for are columns


def test_csv_has_a_row_per_clip_and_method_and_mean_rows(evaluation, tmp_path: Path) -> None:
    report.write_csv(evaluation, tmp_path / "r.csv")
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert sum(r["clip"] == "mean" for r in rows) == 2
    assert sum(r["method"] == report.REFERENCE for r in rows) == 2
    assert len(rows) == 8


def test_crops_show_the_same_region_of_every_method(evaluation, tmp_path: Path) -> None:
    box = report.save_crops(evaluation, "a", tmp_path / "c.png", size=32, zoom=1, columns=4)
    img = cv2.imread(str(tmp_path / "c.png"))
    assert box[2:] == (32, 32)
    assert img.shape[1] == 4 * 32 and img.shape[0] == 32 + 24  # LR, reference, lanczos, bicubic in one row


def test_scatter_writes_a_png(evaluation, tmp_path: Path) -> None:
    report.scatter(evaluation, tmp_path / "s.png")
    assert cv2.imread(str(tmp_path / "s.png")) is not None
    report.scatter(evaluation, tmp_path / "one.png", metrics=["brisque"])  # any single metric (was: a crash)
    assert cv2.imread(str(tmp_path / "one.png")) is not None
    report.scatter(evaluation, tmp_path / "none.png", metrics=["vmaf_neg"])  # not evaluated: nothing to draw
    assert not (tmp_path / "none.png").exists()


def test_evaluate_script_writes_all_outputs(tmp_path: Path, hr_clip: np.ndarray, capsys) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, f in enumerate(hr_clip):
        cv2.imwrite(str(frames / f"{i:03d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    mod = script_module("evaluate")
    out = tmp_path / "out"
    assert mod.main(["--input", str(frames), "--degradation", "bicubic", "--frames", "3", "--crop", "64",
                     "--methods", "lanczos", "bicubic",
                     "--metrics", "psnr", "ewarp", "--crop-size", "32", "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["crops_frames_0_3.png", "quality_vs_speed.png", "results.csv", "results.md"]
    assert "| lanczos |" in capsys.readouterr().out


def test_two_methods_of_one_name_are_refused_not_averaged(tmp_path: Path, hr_clip: np.ndarray, capsys) -> None:
    lr, how = make_lr(hr_clip[:2], "bicubic")
    a, b = Ours("ours[tiny-p0]", "runs/a/tiny-p0.safetensors"), Ours("ours[tiny-p0]", "runs/b/tiny-p0.safetensors")
    with pytest.raises(ValueError, match="both named 'ours\\[tiny-p0\\]'"):
        evaluate([Clip("c", hr_clip[:2], lr, how)], [a, b], metrics=["psnr"])
    mod = script_module("evaluate")
    for methods, message in ((["ours:x/m.safetensors", "ours:y/m.safetensors"], "both be reported as 'ours[m]'"),
                             (["lanczos", "nosuch"], "unknown method 'nosuch'")):
        with pytest.raises(SystemExit) as e:
            mod.main(["--degradation", "bicubic", "--methods", *methods, "--out", str(tmp_path / "out")])
        assert e.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_reference_clips_crop_given_lr_clips_at_the_same_place(tmp_path: Path, hr_clip: np.ndarray) -> None:
    hr_dir, lr_dir = tmp_path / "hr", tmp_path / "lr"
    hr_dir.mkdir()
    lr_dir.mkdir()
    lr = make_lr(hr_clip, "bicubic")[0]
    for i in range(len(hr_clip)):
        cv2.imwrite(str(hr_dir / f"{i:03d}.png"), cv2.cvtColor(hr_clip[i], cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(lr_dir / f"{i:03d}.png"), cv2.cvtColor(lr[i], cv2.COLOR_RGB2BGR))
    (clip,) = reference_clips([parse_source(str(hr_dir))], degradation="given",
                              lr_sources=[parse_source(f"{lr_dir}::")], frames=2, crop=(48, 64))
    assert clip.hr.shape == (2, 48, 64, 3) and clip.lr.shape == (2, 12, 16, 3)
    assert np.array_equal(clip.lr, lr[:2, 6:18, 8:24])
    assert clip.name == "hr[0:2]" and clip.degradation == "given (lr)"
    with pytest.raises(ClipError, match="one LR clip per reference clip, not 0 for 1"):
        reference_clips([parse_source(str(hr_dir))], degradation="given")
    small = tmp_path / "small"
    small.mkdir()
    for i in range(2):
        cv2.imwrite(str(small / f"{i:03d}.png"), lr[i, :8, :8])
    with pytest.raises(ClipError, match="does not match x4"):
        reference_clips([parse_source(str(hr_dir))], degradation="given", lr_sources=[parse_source(str(small))],
                        frames=2, crop=(48, 64))


def test_detect_cuts_finds_the_first_frame_of_each_new_shot(hr_clip: np.ndarray) -> None:
    from vsadcvsr.eval.clips import detect_cuts

    other = 255 - hr_clip
    assert detect_cuts(np.concatenate([hr_clip, other, hr_clip[:2]])) == (4, 8)
    assert detect_cuts(hr_clip) == ()


def test_evaluate_keeps_the_warping_error_within_shots(hr_clip: np.ndarray) -> None:
    still = np.stack([hr_clip[0]] * 3)
    hr = np.concatenate([still, 255 - still])
    lr, how = make_lr(hr, "bicubic")
    ev = evaluate([Clip("two shots", hr, lr, how, cuts=(3,))], [build_method("bicubic")], metrics=["ewarp"])
    assert ev.reference["two shots"]["ewarp"] == pytest.approx(0.0, abs=1e-9)
    assert ev.scores[0].values["ewarp"] == pytest.approx(0.0, abs=1e-9)


def test_select_model_scores_the_selection_frames_and_refuses_unknown_methods() -> None:
    import json
    import subprocess

    from vsadcvsr.material import BIKES_EVAL_RANGES, BIKES_SELECTION_RANGES

    for (a, b), (ea, eb) in zip(BIKES_SELECTION_RANGES, BIKES_EVAL_RANGES):
        assert ea + 25 <= a < b <= eb  # inside the held-out shot, after the frames evaluate.py reports
    script = str(ROOT / "scripts" / "select_model.py")
    r = subprocess.run([sys.executable, script, "lanczos", "bicubic", "--frames", "3"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["method"] for x in rows] == ["lanczos", "bicubic"] and all(x["frames"] == 6 for x in rows)
    assert 20 < rows[1]["psnr_y"] < rows[0]["psnr_y"] < 40  # Lanczos keeps more than bicubic, both plausible
    assert all(0 < x["brisque"] < 100 and x["ewarp"] > 0 for x in rows)
    assert all(0 < x["x265_bpp"] < 1 for x in rows)  # what the output costs to encode (x265 CRF 22), bits/px
    bad = subprocess.run([sys.executable, script, "lanczos", "nosuch"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown method 'nosuch'" in bad.stderr and bad.stdout == ""


def test_select_model_keeps_exports_of_one_file_name_apart(tmp_path: Path) -> None:
    import json
    import subprocess

    from conftest import make_random_checkpoint

    for run, seed in (("a", 0), ("b", 1)):
        (tmp_path / run).mkdir()
        make_random_checkpoint(tmp_path / run / "tiny-p0.safetensors", seed=seed)
    specs = [f"ours:{tmp_path / r / 'tiny-p0.safetensors'}" for r in ("a", "b")]
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "select_model.py"), *specs, "--frames", "2"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["method"] for x in rows] == specs and all(x["frames"] == 4 for x in rows)
    assert rows[0]["psnr_y"] != rows[1]["psnr_y"]  # two models, not one average
