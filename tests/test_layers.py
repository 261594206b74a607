"""The layer rule, read from the source with `ast`: every import (at module level or inside a function) of one
package module by another goes down or sideways, never up.

    model <- checkpoint <- engine <- adapters (vs_filter, ffmpeg_filter, the CLI) <- eval
    train uses model, checkpoint, engine and the shared material; never the adapters, never eval
    importers and eval never import train: what both need lives below it (degradation, material, ncnn files,
    optical flow)
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("vsadcvsr", "ffmpeg_filter")

#: Module (or package prefix) -> layer. The longest matching prefix decides.
LAYER_OF = {
    "vsadcvsr.files": "base",
    "vsadcvsr.stdio": "base",
    "vsadcvsr.extras": "base",
    "vsadcvsr.model": "model",
    "vsadcvsr.checkpoint": "checkpoint",
    "vsadcvsr.export_onnx": "checkpoint",  # a checkpoint written as an ONNX file (the engine's runtimes read it)
    "vsadcvsr.degradation": "shared",
    "vsadcvsr.material": "shared",
    "vsadcvsr.ncnn_graph": "shared",
    "vsadcvsr.ncnn_files": "shared",
    "vsadcvsr.flow": "shared",
    "vsadcvsr.engine": "engine",
    "vsadcvsr.adcsr_import": "importers",
    "vsadcvsr.realesrgan_import": "importers",
    "vsadcvsr.__main__": "adapters",
    "vsadcvsr.vs_filter": "adapters",
    "ffmpeg_filter": "adapters",
    "vsadcvsr.train": "train",
    "vsadcvsr.eval": "eval",
}
#: Modules placed by their exact name only (not as a prefix of others).
EXACT = {"vsadcvsr": "adapters"}  # the package itself: `vsadcvsr.Upscale` comes from vs_filter
#: Layer -> the layers its modules may import.
MAY_IMPORT = {
    "base": {"base"},
    "model": {"base", "model"},
    "checkpoint": {"base", "model", "checkpoint"},
    "shared": {"base", "shared"},
    "engine": {"base", "model", "checkpoint", "engine"},
    "importers": {"base", "model", "checkpoint", "shared", "importers"},
    "adapters": {"base", "model", "checkpoint", "shared", "engine", "importers", "adapters"},
    "train": {"base", "model", "checkpoint", "shared", "engine", "train"},
    "eval": {"base", "model", "checkpoint", "shared", "engine", "importers", "adapters", "eval"},
}


def layer(module: str) -> str | None:
    """The layer of a package module, None for a module the table does not place."""
    if module in EXACT:
        return EXACT[module]
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        found = LAYER_OF.get(".".join(parts[:n]))
        if found is not None:
            return found
    return None


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imported_modules(module: str, is_package: bool, source: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import of a package module in `source`, wherever it stands.
    `from . import x` counts as importing `pkg.x` where that is a module, else `pkg`."""
    package = module if is_package else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out += [(node.lineno, f"{target}.{a.name}" if _is_module(f"{target}.{a.name}") else target)
                    for a in node.names]
    return list(dict.fromkeys((line, name) for line, name in out if name.split(".")[0] in PACKAGES))


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def violations(sources: dict[str, tuple[bool, str]]) -> list[str]:
    """Every import that breaks the rule, and every module the table does not place."""
    found = []
    for module, (is_package, source) in sorted(sources.items()):
        own = layer(module)
        if own is None:
            found.append(f"{module}: not placed in a layer (add it to LAYER_OF in tests/test_layers.py)")
            continue
        for line, target in imported_modules(module, is_package, source):
            theirs = layer(target)
            if theirs is None or theirs not in MAY_IMPORT[own]:
                found.append(f"{module}:{line} ({own}) imports {target} ({theirs})")
    return found


def package_sources() -> dict[str, tuple[bool, str]]:
    return {module_name(p): (p.name == "__init__.py", p.read_text(encoding="utf-8"))
            for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def test_every_module_imports() -> None:
    """A module moved between layers leaves no import behind that points at its old place."""
    import importlib

    for module in package_sources():
        if not module.endswith("__main__"):
            importlib.import_module(module)


def test_no_module_imports_a_higher_layer() -> None:
    sources = package_sources()
    assert "vsadcvsr.engine.upscaler" in sources and "ffmpeg_filter.bridge" in sources
    assert violations(sources) == []


@pytest.mark.parametrize("module, is_package, source, bad", [
    ("vsadcvsr.eval.clips", False, "def f():\n    from ..train.data import read_video\n", "vsadcvsr.train.data"),
    ("vsadcvsr.realesrgan_import", False, "from .train import teachers\n", "vsadcvsr.train.teachers"),
    ("vsadcvsr.engine", True, "import vsadcvsr.vs_filter\n", "vsadcvsr.vs_filter"),
    ("vsadcvsr.model.config", False, "from .. import checkpoint\n", "vsadcvsr.checkpoint"),
    ("vsadcvsr.train.trainer", False, "from ffmpeg_filter import upscale_file\n", "ffmpeg_filter"),
    ("vsadcvsr.train.trainer", False, "from ..eval.methods import build_method\n", "vsadcvsr.eval.methods"),
])
def test_the_checker_finds_an_upward_import(module: str, is_package: bool, source: str, bad: str) -> None:
    found = violations({module: (is_package, source)})
    assert len(found) == 1 and f"imports {bad} " in found[0], found


def test_the_checker_accepts_downward_imports_and_refuses_unplaced_modules() -> None:
    ok = {"vsadcvsr.eval.degrade": (False, "from vsadcvsr.degradation import degrade_clip\nimport numpy\n"),
          "vsadcvsr.engine.upscaler": (False, "from ..checkpoint import load_model\nfrom .tiles import run_tiled\n")}
    assert violations(ok) == []
    assert "not placed" in violations({"vsadcvsr.newthing": (False, "")})[0]
