#!/usr/bin/env bash
# Lint (ruff: E, F, W, I) and type check (mypy) as configured in pyproject.toml; scripts/test.sh runs it first.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-.venv/bin/python}"
"$py" -m ruff check vsadcvsr ffmpeg_filter scripts tests
"$py" -m mypy
