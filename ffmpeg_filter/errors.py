"""The one exception the bridge raises for anything a user can fix or should know about."""
from __future__ import annotations


class BridgeError(Exception):
    """A clear, one-paragraph reason why a run failed (bad input, FFmpeg's own message, no space left...)."""


class ClusterError(BridgeError):
    """A cluster job failed (unreachable cluster, a segment that failed every try, a plan for other settings)."""
