"""tigris: LLM accelerators and the GPUs they must beat, modeled by the same code.

The public API, re-exported from the layers (see ../shared/DESIGN.md for the layering).
"""

from tigris.dtypes import DType
from tigris.errors import SpecError
from tigris.evaluate import evaluate
from tigris.spec import Chip, System, chip, chips, load_chip, load_system
from tigris.workload.llm import LLM, load_config
from tigris.workload.models import model, models
from tigris.workload.step import Decode, Mixed, Prefill, Training, footprint, ops

__all__ = [
    "LLM",
    "Chip",
    "DType",
    "Decode",
    "Mixed",
    "Prefill",
    "SpecError",
    "System",
    "Training",
    "chip",
    "chips",
    "evaluate",
    "footprint",
    "load_chip",
    "load_config",
    "load_system",
    "model",
    "models",
    "ops",
]
