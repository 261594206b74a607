"""Every shell block of README.md runs as written, in order, in a fresh folder, on tiny real videos.

The folder stands for a user's working folder after the README's install steps: the running environment's bin/
first on PATH (an activated venv), this checkout on PYTHONPATH (also for vspipe), `examples/` linked from the
repository, `input.mkv` and `in.mkv` (4 frames of 48x32 with audio), and the README's own `# NAME.vpy` Python blocks
saved under their names. VapourSynth's user config starts empty (XDG_CONFIG_HOME), so vspipe only works after the
README's own `vapoursynth config`. A line `<!-- readme-test: skip REASON -->` before a block leaves it out;
`<!-- readme-test: needs NAME -->` runs it only where NAME is a program on PATH or an importable module.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FENCE = re.compile(r"(?:<!-- readme-test: (?P<kind>skip|needs) (?P<what>[^\n]*?) -->\n)?"
                   r"```(?P<lang>\w*)\n(?P<body>.*?)```", re.S)


@dataclass(frozen=True)
class Block:
    line: int
    lang: str
    body: str
    kind: str | None  # "skip", "needs" or None
    what: str

    @property
    def name(self) -> str:
        return f"README.md:{self.line}"


def readme_blocks(text: str) -> list[Block]:
    return [Block(text.count("\n", 0, m.start("lang")) + 1, m["lang"], m["body"], m["kind"], m["what"] or "")
            for m in FENCE.finditer(text)]


BLOCKS = readme_blocks((ROOT / "README.md").read_text())
SHELL = [b for b in BLOCKS if b.lang in ("sh", "bash", "shell")]


def saved_name(block: Block) -> str | None:
    """`upscale.vpy` for a Python block whose first line is `# upscale.vpy`."""
    m = re.fullmatch(r"# (\S+\.(?:vpy|py))", block.body.split("\n", 1)[0])
    return m[1] if block.lang == "python" and m else None


def available(name: str) -> bool:
    return shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}") is not None or \
        importlib.util.find_spec(name) is not None


def make_inputs(folder: Path) -> None:
    import imageio_ffmpeg

    for name in ("input.mkv", "in.mkv"):
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                        "testsrc=size=48x32:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                        "-frames:v", "4", "-t", "0.16", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-c:a", "aac",
                        str(folder / name)], check=True)


def environment(folder: Path) -> dict[str, str]:
    xdg = folder / ".config-empty"
    xdg.mkdir(exist_ok=True)
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "VIRTUAL_ENV": str(BIN.parent),
            "XDG_CONFIG_HOME": str(xdg), "PYTHONPATH": str(ROOT), "PWD": str(folder)}


def run_block(body: str, folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-e", "-u", "-o", "pipefail", "-c", body], cwd=folder, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, subprocess.CompletedProcess]]:
    """Runs the README in order; {block name: its process} for the blocks that ran."""
    folder = tmp_path_factory.mktemp("user")
    make_inputs(folder)
    (folder / "examples").symlink_to(ROOT / "examples")
    env = environment(folder)
    results = {}
    for block in BLOCKS:
        if saved_name(block):
            (folder / saved_name(block)).write_text(block.body)
        elif block in SHELL and block.kind is None or block.kind == "needs" and available(block.what):
            start = time.monotonic()
            results[block.name] = run_block(block.body, folder, env)
            print(f"{block.name}: {time.monotonic() - start:.1f} s", file=sys.stderr)
    return folder, results


def test_the_readme_has_runnable_blocks_and_says_why_others_do_not_run() -> None:
    assert len([b for b in SHELL if b.kind is None]) >= 4
    assert all(b.what.strip() for b in SHELL if b.kind), "a skip/needs marker gives its reason"
    assert any(saved_name(b) == "upscale.vpy" for b in BLOCKS)


@pytest.mark.parametrize("block", SHELL, ids=[b.name for b in SHELL])
def test_readme_block_runs_as_written(ran, block: Block) -> None:
    _, results = ran
    if block.name not in results:
        pytest.skip(f"{block.kind}: {block.what}")
    r = results[block.name]
    assert r.returncode == 0, f"{block.name}:\n{block.body}\nexit {r.returncode}\n{r.stderr[-3000:]}"


def test_the_readme_outputs_are_real_videos(ran) -> None:
    import av

    folder, _ = ran
    for name, audio in (("out.mkv", False), ("example.mkv", False), ("output.mkv", True)):
        with av.open(str(folder / name)) as f:
            v = f.streams.video[0]
            assert (v.codec_context.name, v.width, v.height) == ("hevc", 192, 128), name
            assert sum(1 for _ in f.decode(video=0)) == 4, name
        if audio:
            with av.open(str(folder / name)) as f:
                assert len(f.streams.audio) == 1, name


def vspipe_by_path(folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """vspipe started by its path outside the activated environment (it finds Python by itself inside it)."""
    outside = {**env, "PATH": "/usr/bin:/bin"}
    outside.pop("VIRTUAL_ENV")
    return subprocess.run([str(BIN / "vspipe"), "-i", "upscale.vpy", "-"], cwd=folder, env=outside,
                          capture_output=True, text=True, timeout=300)


def test_vspipe_works_outside_the_environment_after_the_readmes_vapoursynth_config(ran, tmp_path: Path) -> None:
    folder, _ = ran
    r = vspipe_by_path(folder, environment(folder))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Width: 192" in r.stdout
    (tmp_path / "upscale.vpy").symlink_to(folder / "upscale.vpy")
    (tmp_path / "input.mkv").symlink_to(folder / "input.mkv")
    r = vspipe_by_path(tmp_path, environment(tmp_path))  # the same without the README's `vapoursynth config`
    assert r.returncode != 0 and "vapoursynth config" in r.stderr, r.stderr[-2000:]


def test_a_typo_in_a_readme_command_fails(ran) -> None:
    folder, _ = ran
    pipe = next(b for b in SHELL if b.kind is None and "vspipe -c y4m" in b.body)
    r = run_block(pipe.body.replace("vspipe -c y4m", "vspipe -c y4n"), folder, environment(folder))
    assert r.returncode != 0
