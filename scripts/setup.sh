#!/usr/bin/env bash
# Creates .venv (Python >= 3.12) with vsadcvsr and everything it needs; idempotent.
# Usage: scripts/setup.sh [extras]   (extras: comma list of pyproject extras, default "test")
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-test}"

find_python() {
  local c v
  for c in "${ADCVSR_PYTHON:-}" python3.12 python3.13 python3; do
    [ -n "$c" ] || continue
    command -v "$c" >/dev/null 2>&1 || continue
    if "$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
      command -v "$c"; return 0
    fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9])(\.|$)' | sort -V); do
      c=$(PYENV_VERSION="$v" pyenv which python 2>/dev/null) || continue
      [ -x "$c" ] && { echo "$c"; return 0; }
    done
  fi
  return 1
}

if [ ! -x .venv/bin/python ]; then
  py=$(find_python) || {
    echo "setup: vsadcvsr needs Python >= 3.12 (VapourSynth's PyPI wheels require it)." >&2
    echo "setup: install one (e.g. 'pyenv install 3.12') or set ADCVSR_PYTHON=/path/to/python3.12" >&2
    exit 1
  }
  echo "setup: creating .venv with $py" >&2
  "$py" -m venv .venv
fi
stamp=".venv/.adcvsr-installed-$extras"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >&2
  .venv/bin/python -m pip install -q -e ".[$extras]" >&2
  touch "$stamp"
fi
# The ncnn peers/teachers (Real-ESRGAN & co.) load libvulkan and libomp at import; BRISQUE reads the LIVE model
# files of opencv-data (/usr/share/opencv4/quality). Debian packages them.
debs="libvulkan1 libomp5-14 opencv-data"
if ! dpkg -s $debs >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing $debs (ncnn upscalers, BRISQUE)" >&2
    (apt-get update -qq && apt-get install -y -qq $debs) >&2 || echo "setup: apt-get failed; ncnn peers and BRISQUE will be skipped" >&2
  else
    echo "setup: $debs missing (not root): the ncnn peers and BRISQUE will be skipped" >&2
  fi
fi
# vspipe finds Python through a per-user config file with one entry per VapourSynth installation: add this
# .venv's entry unless it is there (another checkout's entry does not serve this one).
cfg="${XDG_CONFIG_HOME:-$HOME/.config}/vapoursynth/vapoursynth.toml"
if ! grep -qF "\"$(pwd -P)/.venv/" "$cfg" 2>/dev/null; then
  .venv/bin/vapoursynth config >&2 || true
fi
echo "setup: ready (.venv)" >&2
