#!/usr/bin/env bash
# Sets up .venv (if needed), lints and type-checks (scripts/lint.sh), then runs the test suite. Extra arguments go to
# pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
scripts/lint.sh
exec .venv/bin/python -m pytest -ra "$@"
