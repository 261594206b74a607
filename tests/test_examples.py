"""examples/upscale.vpy through the real vspipe: a relative source, and no source without scikit-video."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "upscale.vpy"
VSPIPE = shutil.which("vspipe", path=str(Path(sys.executable).parent)) or "vspipe"


def test_a_relative_source_is_taken_from_where_vspipe_started(tmp_path: Path, vs_env: dict, ffmpeg_exe: str) -> None:
    subprocess.run([ffmpeg_exe, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=48x32:rate=25", "-frames:v", "4",
                    "-pix_fmt", "yuv420p", "-c:v", "ffv1", str(tmp_path / "in.mkv")], check=True)
    # vspipe runs the script in examples/, where no in.mkv is; the shell's PWD says where vspipe was started
    r = subprocess.run([VSPIPE, "-i", "-a", "source=in.mkv", str(EXAMPLE), "-"], cwd=tmp_path,
                       env={**vs_env, "PWD": str(tmp_path)}, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Width: 192" in r.stdout and "Height: 128" in r.stdout and "Frames: 4" in r.stdout, r.stdout


def test_without_scikit_video_and_without_a_source_the_message_names_the_argument(tmp_path: Path,
                                                                                    vs_env: dict) -> None:
    # A sitecustomize on PYTHONPATH hides scikit-video inside vspipe (find_spec -> None), as on a plain pip install.
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['skvideo'] = None\n")
    env = {**vs_env, "PYTHONPATH": f"{tmp_path}:{vs_env['PYTHONPATH']}"}
    r = subprocess.run([VSPIPE, "-i", str(EXAMPLE), "-"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode != 0
    assert "pass a video with vspipe -a source=FILE" in r.stderr, r.stderr[-2000:]
    assert "AttributeError" not in r.stderr
