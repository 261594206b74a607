"""Pure torch networks of vsadcvsr (no I/O)."""
from .adcvsr import AdcVSR, AdcVSROutput, count_parameters
from .config import CONFIGS, AdcVSRConfig, get_config

__all__ = ["AdcVSR", "AdcVSROutput", "AdcVSRConfig", "CONFIGS", "count_parameters", "get_config"]
