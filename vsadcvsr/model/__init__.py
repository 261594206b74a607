"""Pure torch networks of vsadcvsr (no I/O)."""
from .adcvsr import AdcVSR, AdcVSROutput, count_parameters
from .compact import CompactVSR
from .config import CONFIGS, AdcVSRConfig, CompactConfig, ModelConfig, get_config
from .families import Family, build_model, config_from_json, engine_hints, family_of, register_family
from .hints import EngineHints, Int8Error, Int8Support, QParams

Student = AdcVSR | CompactVSR

__all__ = ["AdcVSR", "AdcVSROutput", "AdcVSRConfig", "CONFIGS", "CompactConfig", "CompactVSR", "EngineHints",
           "Family", "Int8Error", "Int8Support", "ModelConfig", "QParams", "Student", "build_model", "config_from_json",
           "count_parameters", "engine_hints", "family_of", "get_config", "register_family"]
