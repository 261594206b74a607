"""Imported first by every script: where the vsadcvsr package is not installed in this Python, one line saying how
to install it (exit 1), instead of a traceback. The scripts import the installed package; they never edit sys.path."""
from __future__ import annotations

import importlib.util
import sys

if importlib.util.find_spec("vsadcvsr") is None:
    sys.exit(f"{sys.argv[0]}: the vsadcvsr package is not installed in this Python ({sys.executable}): run "
             "scripts/setup.sh, or pip install -e '.[test]' in the repository")
