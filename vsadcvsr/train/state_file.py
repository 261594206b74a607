"""Trainer state files (state.pt) loaded without unpickling code: tensors, plain data and NumPy's RNG state only.

`torch.load(weights_only=True)` refuses every global but torch's own; a trainer state also holds
`np.random.get_state()` (an ndarray), so exactly the names that rebuild a NumPy array are allowed besides.
A file that names anything else (e.g. a crafted `__reduce__`) is refused before any of it runs.
"""
from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np
import torch

from ..checkpoint import refused_pickle


class StateFileError(ValueError):
    """A state file that is missing, damaged, or holds more than tensors and plain data."""


def _numpy_rng_globals() -> list[Any]:
    """The globals a pickled NumPy array needs (NumPy 1 and 2 spell `_reconstruct`'s module differently)."""
    names: list[Any] = [np.ndarray, np.dtype, type(np.dtype(np.uint32))]
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            mod = __import__(module, fromlist=["_reconstruct"])
        except ImportError:
            continue
        names.append((mod._reconstruct, f"{module}._reconstruct"))
    return names


def load_state_file(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Reads a trainer state with `weights_only=True`; StateFileError names the problem (never torch's advice)."""
    try:
        with torch.serialization.safe_globals(_numpy_rng_globals()):
            state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise StateFileError(f"training state not found: {path}") from None
    except pickle.UnpicklingError as e:
        raise StateFileError(f"refused to load training state {path}: {refused_pickle(e)}") from None
    except (RuntimeError, EOFError, OSError) as e:
        raise StateFileError(f"cannot read training state {path}: {e}") from None
    if not isinstance(state, dict):
        raise StateFileError(f"{path} is not a training state (a {type(state).__name__}, not a dict)")
    return state
