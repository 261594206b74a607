"""The scripts import the installed package: none edits sys.path, and without the package each says in one line how
to install it (no traceback). That each one's --help works with the package: tests/test_extras.py."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p for p in (ROOT / "scripts").glob("*.py") if not p.name.startswith("_"))


def test_there_are_scripts_and_none_edits_sys_path() -> None:
    assert len(SCRIPTS) >= 9
    for path in SCRIPTS:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edits = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr == "path"
                 and isinstance(node.value, ast.Name) and node.value.id == "sys"]
        assert edits == [], f"{path.name} uses sys.path on line(s) {edits}"
        imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        guard = [i for i, n in enumerate(imports) if isinstance(n, ast.Import) and n.names[0].name == "_installed"]
        first_package = next((i for i, n in enumerate(imports) if isinstance(n, ast.ImportFrom)
                              and (n.module or "").split(".")[0] in ("vsadcvsr", "ffmpeg_filter")), len(imports))
        assert guard and guard[0] < first_package, f"{path.name}: import _installed before the package"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_without_the_package_one_line_says_how_to_install(script: Path, tmp_path: Path) -> None:
    """-S -E: no site-packages, no PYTHONPATH, so nothing can import vsadcvsr unless the script puts the repository
    on sys.path itself (it would then fail further on, on torch or numpy, with a traceback)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    r = subprocess.run([sys.executable, "-S", "-E", str(script), "--help"], capture_output=True, text=True,
                       cwd=tmp_path, env=env, timeout=120)
    assert r.returncode == 1 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "vsadcvsr package is not installed" in lines[0] and "pip install" in lines[0], r.stderr
