"""adcvsr-ffmpeg: real FFmpeg processes on real files, with a nearest-x4 stand-in for the engine (fast) and,
where the engine has landed, the real AdcVSR network with random tiny weights."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest_ffmpeg import (
    BIKES,
    FAST,
    FFMPEG,
    child_pids,
    cli_with_fake_engine,
    ff,
    killing_engine_module,
    make_clips,
    packets_digest,
    planes,
    video_info,
)
from conftest_ffmpeg import (
    upscale_quickly as run,
)

from ffmpeg_filter import BridgeError, join_segments, parse_position, probe
from ffmpeg_filter.bridge import resolve_range
from ffmpeg_filter.cli import main, split_argv


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    return make_clips(tmp_path_factory.mktemp("clips"))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name)


# ------------------------------------------------------------------------------------------------ what is kept
def test_output_is_4x_with_the_same_frames_timestamps_streams_and_tags(clips, engine, tmp_path):
    out = run(clips["av"], tmp_path / "out.mkv")
    src, dst = video_info(clips["av"]), video_info(out)
    assert (dst["width"], dst["height"]) == (4 * 66, 4 * 38)
    assert dst["codec"] == "hevc" and dst["pix_fmt"] == "yuv420p"
    assert dst["frames"] == src["frames"] == 20
    assert dst["times"] == pytest.approx(src["times"], abs=1e-6)
    assert (dst["primaries"], dst["trc"], dst["matrix"], dst["range"]) == (1, 1, 1, 1)
    assert dst["sar"] == Fraction(16, 15)
    assert dst["streams"] == [("video", "hevc"), ("audio", "flac"), ("subtitle", "srt")]
    assert dst["metadata"]["title"] == "Bridge test"
    assert dst["chapters"] == ["One", "Two"]
    assert packets_digest(out, "audio") == packets_digest(clips["av"], "audio")
    assert packets_digest(out, "subtitles") == packets_digest(clips["av"], "subtitles")
    import av

    with av.open(str(out)) as c:
        assert c.streams.audio[0].metadata.get("language") == "fra"
    assert leftovers(tmp_path) == []


def test_engine_gets_float_rgb_frames_and_the_window_settings(clips, engine, tmp_path):
    run(clips["av"], tmp_path / "out.mkv", model="some.safetensors", window=6, overlap=2, tile=64, precision="fp16",
        colour_fix="adain")
    (up,) = engine
    assert up.kwargs == dict(model="some.safetensors", device="cpu", precision="fp16", tile=64, tile_overlap=32,
                             colour_fix="adain")
    assert up.stream_kwargs == dict(window=6, overlap=2, scene_threshold=0.1)
    assert up.seen[0].shape == (3, 38, 66) and 0.0 <= float(up.seen[0].min()) <= float(up.seen[0].max()) <= 1.0


def test_colours_survive_the_rgb_round_trip_with_the_source_matrix(clips, engine, tmp_path):
    # nearest x4 makes every 4th output pixel a copy of a source pixel: the planes must agree up to coding noise
    out = run(clips["av"], tmp_path / "out.mkv", encoder_args=["-crf", "4", *FAST])
    for s, d in zip(planes(clips["av"]), planes(out)):
        for k, (ps, pd) in enumerate(zip(s, d)):
            sub = pd[2::4, 2::4].astype(int)[: ps.shape[0], : ps.shape[1]]
            assert np.abs(sub - ps[: sub.shape[0], : sub.shape[1]]).mean() < 3.0, f"plane {k}"
            assert abs(sub.mean() - ps.mean()) < 1.0, f"plane {k} shifted"


def test_high_bit_depth_source_stays_high_bit_depth_with_its_hdr_tags(clips, engine, tmp_path):
    out = run(clips["hbd"], tmp_path / "out.mkv")
    dst = video_info(out)
    assert dst["pix_fmt"] == "yuv420p10le" and (dst["width"], dst["height"]) == (256, 192)
    assert (dst["primaries"], dst["trc"], dst["matrix"], dst["range"]) == (9, 16, 9, 1)  # BT.2020, PQ
    assert dst["frames"] == 8
    # the engine saw 16-bit precision, not 8-bit values stretched to [0, 1]
    values = np.rint(engine[0].seen[0].numpy() * 65535).astype(int)
    assert np.any(values % 257 != 0)
    s, d = planes(clips["hbd"], 1)[0][0], planes(out, 1)[0][0]
    assert np.abs(d[2::4, 2::4].astype(int) - s).mean() < 12  # 10-bit code values


def test_variable_frame_rate_timestamps_are_kept_exactly(clips, engine, tmp_path):
    src = video_info(clips["vfr"])
    assert len(set(np.round(np.diff(src["times"]), 3))) > 1  # the clip really is VFR
    out = run(clips["vfr"], tmp_path / "out.mkv")
    dst = video_info(out)
    assert dst["frames"] == src["frames"] == 16
    assert dst["times"] == pytest.approx(src["times"], abs=1e-6)


def test_full_range_source_stays_full_range(engine, tmp_path):
    src = tmp_path / "full.mkv"
    ff("-f", "lavfi", "-i", "testsrc2=s=64x48:r=25:d=0.32", "-vf",
       "format=rgb24,scale=out_color_matrix=bt709:out_range=pc,format=yuvj420p,setparams=range=pc:colorspace=bt709",
       "-c:v", "libx264", "-preset", "ultrafast", "-crf", "4", str(src))
    out = run(src, tmp_path / "out.mkv", encoder_args=["-crf", "4", *FAST])
    dst = video_info(out)
    assert dst["range"] == 2 and dst["matrix"] == 1
    s, d = planes(src, 1)[0][0], planes(out, 1)[0][0]
    assert abs(d[2::4, 2::4].astype(int).mean() - s.mean()) < 1.0  # no tv/pc squeeze


def test_mp4_target_gets_hvc1_and_text_subtitles_as_mov_text(clips, engine, tmp_path):
    out = run(clips["av"], tmp_path / "out.mp4")
    dst = video_info(out)
    assert dst["codec_tag"] == "hvc1"
    kinds = [s for s in dst["streams"] if s[0] != "data"]  # mp4 chapters come as a data track
    assert kinds == [("video", "hevc"), ("audio", "flac"), ("subtitle", "mov_text")]
    assert dst["frames"] == 20 and dst["chapters"] == ["One", "Two"]


def test_encoder_options_are_passed_through_in_order(clips, engine, tmp_path):
    out = run(clips["av"], tmp_path / "out.mkv",
              encoder_args=["-c:v", "libx264", "-crf", "20", "-preset", "ultrafast", "-metadata", "comment=a",
                            "-metadata", "artist=b"])
    dst = video_info(out)
    assert dst["codec"] == "h264" and dst["frames"] == 20
    tags = {k.lower(): v for k, v in dst["metadata"].items()}  # Matroska keeps its tags upper case
    assert tags["comment"] == "a" and tags["artist"] == "b"


def test_filters_run_before_and_after_the_model_on_a_real_camera_clip(engine, tmp_path):
    out = run(BIKES, tmp_path / "bikes.mkv", start=25, end=35, vf_pre="scale=160:68", vf_post="scale=320:-2")
    dst = video_info(out)
    assert engine[0].seen[0].shape == (3, 68, 160)  # pre filter ran in the decoder
    assert (dst["width"], dst["height"]) == (320, 136)  # post filter ran in the encoder
    assert dst["frames"] == 10
    assert dst["times"] == pytest.approx([i * 0.04 for i in range(10)], abs=1e-6)


def test_timestamps_follow_a_pre_filter_that_changes_the_frame_rate(clips, engine, tmp_path):
    out = run(clips["av"], tmp_path / "out.mkv", vf_pre="yadif=1")  # one frame per field: 50 fps
    dst = video_info(out)
    assert dst["frames"] == 40
    assert dst["times"] == pytest.approx([i * 0.02 for i in range(40)], abs=1e-6)


# ------------------------------------------------------------------------------------------------ ranges
@pytest.mark.parametrize("text,expected", [
    ("100", ("frame", 100)), (7, ("frame", 7)), ("4.5s", ("time", 4.5)), (2.0, ("time", 2.0)),
    ("1:02.5", ("time", 62.5)), ("1:00:00", ("time", 3600.0)),
])
def test_positions_are_frames_or_times(text, expected):
    assert parse_position(text) == expected


@pytest.mark.parametrize("text", ["4.5", "-3", "abc", "1:xx"])
def test_ambiguous_or_bad_positions_are_refused(text):
    with pytest.raises(BridgeError, match="position"):
        parse_position(text)


def test_time_range_selects_the_frames_shown_in_it(clips):
    seg = resolve_range(probe(clips["av"]), "0.2s", "0.6s")
    assert (seg.first, seg.stop) == (5, 15)
    assert seg.seek == pytest.approx(0.2, abs=2e-6) and seg.seek <= 0.2
    with pytest.raises(BridgeError, match="past the end"):
        resolve_range(probe(clips["av"]), 20, None)
    with pytest.raises(BridgeError, match="empty range"):
        resolve_range(probe(clips["av"]), 10, 10)


def test_two_segments_joined_with_the_concat_demuxer_equal_the_whole(clips, engine, tmp_path):
    whole = run(clips["av"], tmp_path / "whole.mkv")
    a = run(clips["av"], tmp_path / "part1.mkv", end=10)
    b = run(clips["av"], tmp_path / "part2.mkv", start="0.4s")
    assert video_info(a)["frames"] == video_info(b)["frames"] == 10
    assert video_info(b)["times"][0] == 0.0
    # the plain recipe: frame count of the whole
    listing = tmp_path / "parts.txt"
    listing.write_text(f"file '{a}'\nfile '{b}'\n")
    plain = tmp_path / "plain.mkv"
    ff("-f", "concat", "-safe", "0", "-i", str(listing), "-map", "0", "-c", "copy", str(plain))
    assert video_info(plain)["frames"] == 20
    # join_segments lists each part's video duration: timestamps of the whole, to the microsecond
    joined = join_segments([a, b], tmp_path / "joined.mkv")
    j, w = video_info(joined), video_info(whole)
    assert j["frames"] == w["frames"] == 20
    assert j["times"] == pytest.approx(w["times"], abs=1e-6)
    assert [s[0] for s in j["streams"]] == ["video", "audio", "subtitle"]
    n_whole, _ = packets_digest(clips["av"], "audio")
    n_joined, _ = packets_digest(joined, "audio")
    assert abs(n_joined - n_whole) <= 1  # one packet may straddle the cut
    assert leftovers(tmp_path) == [] and not list(tmp_path.glob(".*parts.txt"))


def test_a_range_of_an_mpeg_ts_source_without_index_is_exact(clips, engine, tmp_path):
    src = video_info(clips["ts"])
    out = run(clips["ts"], tmp_path / "out.mkv", start=7, end=20)
    dst = video_info(out)
    assert dst["frames"] == 13
    expected = [t - src["times"][7] for t in src["times"][7:20]]
    assert dst["times"] == pytest.approx(expected, abs=1.5e-3)  # Matroska stores milliseconds
    assert packets_digest(out, "audio")[0] >= 17  # ~0.43 s of 23 ms AAC packets


def test_join_refuses_an_existing_output(clips, engine, tmp_path):
    a = run(clips["av"], tmp_path / "a.mkv", end=2)
    with pytest.raises(BridgeError, match="output exists"):
        join_segments([a], a.parent / "a.mkv")


def test_join_command_line(clips, engine, tmp_path):
    a = run(clips["av"], tmp_path / "a.mkv", end=5)
    b = run(clips["av"], tmp_path / "b.mkv", start=5)
    r = subprocess.run([sys.executable, "-m", "ffmpeg_filter.join", str(tmp_path / "ab.mkv"), str(a), str(b)],
                       capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    assert r.returncode == 0 and r.stdout == "", r.stderr
    assert video_info(tmp_path / "ab.mkv")["frames"] == 20
    r = subprocess.run([sys.executable, "-m", "ffmpeg_filter.join", str(tmp_path / "ab.mkv"), str(a)],
                       capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    assert r.returncode == 1 and "error: output exists" in r.stderr


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("case,message", [
    ("missing", "input not found"),
    ("garbage", "cannot open"),
    ("audio_only", "no video stream"),
    ("truncated", "truncated or corrupt"),
])
def test_bad_inputs_are_reported_and_leave_nothing(case, message, clips, engine, tmp_path):
    src = clips.get(case, tmp_path / "nope.mkv")
    with pytest.raises(BridgeError, match=message):
        run(src, tmp_path / "out.mkv")
    assert list(tmp_path.iterdir()) == []


def test_a_pre_filter_that_drops_every_frame_is_an_error(clips, engine, tmp_path):
    with pytest.raises(BridgeError, match="decode"):
        run(clips["av"], tmp_path / "out.mkv", vf_pre="select=0")
    assert list(tmp_path.iterdir()) == []


def test_unknown_encoder_is_refused_before_any_work(clips, engine, tmp_path):
    with pytest.raises(BridgeError, match="unknown encoder 'libnothing'"):
        run(clips["av"], tmp_path / "out.mkv", encoder_args=["-c:v", "libnothing"])
    assert engine == [] and list(tmp_path.iterdir()) == []


def test_encoder_that_fails_reports_ffmpegs_own_message(clips, engine, tmp_path):
    with pytest.raises(BridgeError, match=r"could not encode[\s\S]*crf"):
        run(clips["av"], tmp_path / "out.mkv", encoder_args=["-c:v", "libx264", "-crf", "banana"])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("which,message", [("decoder", "could not decode"), ("encoder", "could not encode")])
def test_ffmpeg_dying_mid_way_is_reported_and_leaves_nothing(which, message, clips, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "vsadcvsr.engine", killing_engine_module(which, after=3))
    with pytest.raises(BridgeError, match=message) as e:  # big frames: the decoder cannot be done by frame 3
        run(BIKES, tmp_path / "out.mkv", end=60)
    assert "killed by SIGKILL" in str(e.value) or "ended after" in str(e.value)
    assert list(tmp_path.iterdir()) == []
    assert child_pids(os.getpid()) == []


def test_output_equal_to_input_or_existing_is_refused(clips, engine, tmp_path):
    with pytest.raises(BridgeError, match="output is the input"):
        run(clips["av"], clips["av"], overwrite=True)
    existing = tmp_path / "out.mkv"
    existing.write_bytes(b"keep me")
    with pytest.raises(BridgeError, match="output exists.*--overwrite"):
        run(clips["av"], existing)
    assert existing.read_bytes() == b"keep me"
    run(clips["av"], existing, overwrite=True)
    assert video_info(existing)["frames"] == 20


def test_model_that_cannot_load_is_reported(clips, engine, tmp_path):
    with pytest.raises(BridgeError, match="cannot load model 'missing'"):
        run(clips["av"], tmp_path / "out.mkv", model="missing")
    assert list(tmp_path.iterdir()) == []


def test_no_space_left_is_reported_and_the_partial_file_removed(clips, engine, tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        with pytest.raises(BridgeError, match="No space left on device"):
            run(clips["long"], mnt / "out.mkv", encoder_args=["-c:v", "libx264", "-qp", "0", *FAST])
        assert list(mnt.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


# ------------------------------------------------------------------------------------------------ the command line
def test_argv_splits_at_the_first_unknown_option():
    ours, enc = split_argv(["in.mkv", "out.mkv", "--window", "8", "--vf-pre=yadif", "-q", "-c:v", "libx264",
                            "-crf", "20", "-preset", "fast"])
    assert ours == ["in.mkv", "out.mkv", "--window", "8", "--vf-pre=yadif", "-q"]
    assert enc == ["-c:v", "libx264", "-crf", "20", "-preset", "fast"]
    assert split_argv(["a", "b", "--", "--window", "3"]) == (["a", "b"], ["--window", "3"])
    # our --long options are ours anywhere; after FFmpeg options began, -q and -y are FFmpeg's
    assert split_argv(["a", "b", "-c:v", "libx264", "--model", "m.st", "-q", "2", "--end=9"]) == (
        ["a", "b", "--model", "m.st", "--end=9"], ["-c:v", "libx264", "-q", "2"])


def test_cli_errors_say_what_is_wrong_and_exit_1(clips, engine, tmp_path, capsys):
    assert main([str(tmp_path / "nope.mkv"), str(tmp_path / "out.mkv")]) == 1
    err = capsys.readouterr()
    assert err.err.startswith("adcvsr-ffmpeg: error: input not found") and err.out == ""
    assert main([str(clips["av"]), str(tmp_path / "o.mkv"), "--ffmpeg", "/no/ffmpeg"]) == 1
    assert "FFmpeg not found" in capsys.readouterr().err


def test_cli_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["only-one-argument"])
    assert e.value.code == 2 and "adcvsr-ffmpeg: error:" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["in.mkv", "out.mkv", "--colour-fix", "sharpen"])
    assert e.value.code == 2 and "--colour-fix: invalid choice" in capsys.readouterr().err


def test_every_parser_option_is_known_to_the_argument_splitter():
    from ffmpeg_filter.cli import _KNOWN, build_parser

    options = {o: a.nargs != 0 for a in build_parser()._actions for o in a.option_strings}
    assert options == _KNOWN


def test_cli_colour_fix_reaches_the_engine(clips, engine, tmp_path):
    assert main([str(clips["av"]), str(tmp_path / "a.mkv"), "-q", "--colour-fix", "none", "-preset", "ultrafast"]) == 0
    assert main([str(clips["av"]), str(tmp_path / "b.mkv"), "-q", "-preset", "ultrafast"]) == 0
    assert [up.kwargs["colour_fix"] for up in engine] == ["none", "wavelet"]


def test_cli_prints_progress_on_stderr_only_and_q_silences_it(clips, engine, tmp_path, capsys):
    assert main([str(clips["av"]), str(tmp_path / "a.mkv"), "-preset", "ultrafast"]) == 0
    out = capsys.readouterr()
    assert out.out == "" and "20/20 frames" in out.err and "fps" in out.err
    assert main([str(clips["av"]), str(tmp_path / "b.mkv"), "-q", "-preset", "ultrafast"]) == 0
    assert capsys.readouterr() == ("", "")


def test_a_terminal_gets_a_tqdm_bar(clips, tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()  # no fork: pytest may have threads running
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    p = cli_with_fake_engine([str(clips["av"]), str(tmp_path / "o.mkv"), "-preset", "ultrafast"],
                             stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO once the child has closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert p.wait(timeout=60) == 0, out.decode(errors="replace")
    assert b"100%|" in out and b"20/20" in out
    assert b"ETA" in out  # the bridge's own ETA (after the first window), not tqdm's


def test_environment_names_the_ffmpeg_binary(clips, engine, tmp_path, monkeypatch):
    monkeypatch.setenv("ADCVSR_FFMPEG", "/no/such/ffmpeg")
    with pytest.raises(BridgeError, match="/no/such/ffmpeg"):
        run(clips["av"], tmp_path / "out.mkv")
    monkeypatch.setenv("ADCVSR_FFMPEG", FFMPEG)
    assert video_info(run(clips["av"], tmp_path / "out.mkv"))["frames"] == 20


def test_output_dash_writes_matroska_to_stdout(clips, tmp_path):
    p = cli_with_fake_engine([str(clips["av"]), "-", "-q", "-preset", "ultrafast"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err.decode()
    (tmp_path / "piped.mkv").write_bytes(out)
    dst = video_info(tmp_path / "piped.mkv")
    assert dst["frames"] == 20 and dst["width"] == 264


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_run_stops_ffmpeg_and_leaves_nothing(sig, code, clips, tmp_path):
    src = tmp_path / "source.mkv"
    src.write_bytes(clips["long"].read_bytes())
    before = src.read_bytes()
    p = cli_with_fake_engine([str(src), str(tmp_path / "out.mkv")], delay=0.1, stderr=subprocess.PIPE,
                             start_new_session=True)  # a signal to us only, as from `kill`, not the terminal
    deadline = time.monotonic() + 60
    while not leftovers(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftovers(tmp_path), "the run never started writing"
    time.sleep(0.5)
    children = child_pids(p.pid)
    assert len(children) == 2  # the decoder and the encoder
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == code, err.decode()
    assert "interrupted" in err.decode()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["source.mkv"]
    assert src.read_bytes() == before
    assert all(not Path(f"/proc/{c}").exists() or _zombie(c) for c in children)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    except OSError:
        return True


# ------------------------------------------------------------------------------------------------ the real model
@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    import torch

    from vsadcvsr.checkpoint import save_checkpoint
    from vsadcvsr.model import AdcVSR, get_config

    torch.manual_seed(0)
    cfg = get_config("tiny")
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(path, AdcVSR(cfg).state_dict(), cfg, provenance="random test weights", licence="n/a")
    return path


def test_real_engine_runs_end_to_end_with_a_tiny_checkpoint(clips, tiny_checkpoint, tmp_path):
    out = run(clips["av"], tmp_path / "out.mkv", model=str(tiny_checkpoint), window=4, overlap=1, end=6)
    dst = video_info(out)
    assert (dst["width"], dst["height"], dst["frames"]) == (264, 152, 6)
    assert packets_digest(out, "subtitles")[0] >= 1


def test_real_engine_on_a_real_camera_clip_across_a_scene_cut(tiny_checkpoint, tmp_path):
    out = run(BIKES, tmp_path / "bikes.mkv", model=str(tiny_checkpoint), start=26, end=34, vf_pre="scale=96:40",
              window=4, overlap=1)
    dst = video_info(out)
    assert (dst["width"], dst["height"], dst["frames"]) == (384, 160, 8)
    assert dst["times"] == pytest.approx([i * 0.04 for i in range(8)], abs=1e-6)


def test_default_model_without_bundled_weights_fails_clearly_or_runs(clips, tmp_path):
    try:
        out = run(clips["av"], tmp_path / "out.mkv", end=2, window=2, overlap=0)
    except BridgeError as e:
        assert "cannot load model 'default'" in str(e)
        assert list(tmp_path.iterdir()) == []
    else:
        assert video_info(out)["frames"] == 2
