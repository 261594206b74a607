#!/usr/bin/env bash
# Sets up .venv (if needed) and runs the test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
exec .venv/bin/python -m pytest -ra "$@"
