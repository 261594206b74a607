"""The bridge's one options object: the command line fills every option, `upscale_file` and `run_cluster` take it
(or single options by keyword), a cluster plan records it as JSON. No FFmpeg run here."""
from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest

from ffmpeg_filter import BridgeError, JobOptions
from ffmpeg_filter.cli import build_parser, job_options, split_argv
from ffmpeg_filter.cluster import segment_options
from ffmpeg_filter.job_options import option_names
from ffmpeg_filter.segments import plan_settings


def test_the_command_line_sets_every_option():
    argv = ["in.mkv", "out.mkv", "--model", "m.safetensors", "--device", "cuda:1", "--precision", "fp16",
            "--backend", "onnxruntime", "--window", "8", "--overlap", "2", "--tile", "128", "--tile-overlap", "16",
            "--scene-threshold", "0.2", "--colour-fix", "adain", "--vf-pre", "yadif", "--vf-post", "scale=640:-2",
            "--start", "10", "--end", "4.5s", "--overwrite", "-q", "--ffmpeg", "/opt/ffmpeg", "--allow-lost-frames",
            "-c:v", "ffv1"]
    ours, theirs = split_argv(argv)
    got = job_options(build_parser().parse_args(ours), theirs)
    want = JobOptions(model="m.safetensors", device="cuda:1", precision="fp16", backend="onnxruntime", window=8,
                      overlap=2, tile=128, tile_overlap=16, scene_threshold=0.2, colour_fix="adain", vf_pre="yadif",
                      vf_post="scale=640:-2", start="10", end="4.5s", encoder_args=["-c:v", "ffv1"], overwrite=True,
                      progress=False, ffmpeg_path="/opt/ffmpeg", allow_lost_frames=True)
    assert got == want
    defaults = JobOptions()
    # each one was set, but compile: it goes with the torch backend only (below)
    assert all(getattr(got, name) != getattr(defaults, name) for name in option_names() if name != "compile")
    compiled = job_options(build_parser().parse_args(["in.mkv", "out.mkv", "--compile"]), [])
    assert compiled == JobOptions(compile=True) and compiled.engine.compile is True
    assert job_options(build_parser().parse_args(["in.mkv", "out.mkv"]), []) == defaults  # and the same defaults


def test_the_engine_settings_are_checked_once_when_the_options_are_made():
    options = JobOptions(window=8, overlap=2, tile=(96, 64), colour_fix=False)
    assert (options.engine.window, options.engine.overlap, options.engine.tile) == (8, 2, (96, 64))
    assert options.engine.colour_fix == "none" and options.engine.device == "cpu"
    with pytest.raises(BridgeError, match=r"overlap must be between 0 and window/2 \(4\), not 5"):
        dataclasses.replace(options, overlap=5)
    with pytest.raises(BridgeError, match="encoder_args must be a list"):
        JobOptions(encoder_args="-c:v ffv1")
    assert pickle.loads(pickle.dumps(options)) == options  # a cluster worker gets it through Ray


def test_single_options_by_keyword_over_given_ones():
    base = JobOptions(device="cuda", encoder_args=["-c:v", "ffv1"])
    changed = JobOptions.with_changes(base, {"start": 100}, "upscale_file")
    assert changed == dataclasses.replace(base, start=100) and changed.encoder_args == ("-c:v", "ffv1")
    assert JobOptions.with_changes(base, {}, "upscale_file") is base
    assert JobOptions.with_changes(None, {"window": 8}, "upscale_file") == JobOptions(window=8)
    with pytest.raises(TypeError, match="upscale_file\\(\\) got an unexpected keyword argument 'windw'"):
        JobOptions.with_changes(None, {"windw": 8}, "upscale_file")
    with pytest.raises(TypeError, match="takes a JobOptions"):
        JobOptions.with_changes({"window": 8}, {}, "run_cluster")  # type: ignore[arg-type]


def test_a_cluster_plan_records_the_options_as_json_and_segments_are_video_only():
    options = JobOptions(model=Path("m.safetensors"), tile=(96, 64), encoder_args=["-crf", "20"],
                         allow_lost_frames=True, ffmpeg_path=Path("/opt/ffmpeg"))
    plan = plan_settings(options, ".mkv", 25)
    assert plan["model"] == "m.safetensors" and plan["tile"] == [96, 64] and plan["colour_fix"] == "wavelet"
    assert plan["encoder_args"] == ["-crf", "20"] and (plan["container"], plan["segment_frames"]) == (".mkv", 25)
    seg = segment_options(options)
    assert seg.encoder_args == ("-crf", "20", "-an", "-sn", "-dn") and seg.overwrite and not seg.progress
    assert not seg.allow_lost_frames and seg.ffmpeg_path == "/opt/ffmpeg" and seg.engine == options.engine
