"""Pure torch networks of vsadcvsr (no I/O)."""
from .adcvsr import AdcVSR, AdcVSROutput, count_parameters
from .compact import CompactVSR
from .config import CONFIGS, AdcVSRConfig, CompactConfig, ModelConfig, config_from_json, get_config

Student = AdcVSR | CompactVSR


def build_model(cfg: ModelConfig) -> Student:
    """The network a configuration describes."""
    return CompactVSR(cfg) if isinstance(cfg, CompactConfig) else AdcVSR(cfg)


__all__ = ["AdcVSR", "AdcVSROutput", "AdcVSRConfig", "CONFIGS", "CompactConfig", "CompactVSR", "ModelConfig",
           "Student", "build_model", "config_from_json", "count_parameters", "get_config"]
