"""Training of AdcVSR students (the paper's two-stage method, scaled to CPUs): data, degradation, teachers,
losses, discriminators and the trainer. `scripts/make_training_data.py` and `scripts/train.py` drive it."""
