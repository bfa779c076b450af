"""What the hardware IS: chips (cores, engines, memory levels, links), systems, the catalog.

Owns the frozen pydantic spec models and their YAML loading. Imports only `units`,
`dtypes` and `errors`; every later layer reads these specs and none is imported here.
"""

from tigris.spec.catalog import chip, chip_names, chips, load_chip
from tigris.spec.chip import Chip, Core, MatrixEngine, MemoryLevel, ScaleOut, ScaleUp, VectorEngine
from tigris.spec.system import System, load_system

__all__ = [
    "Chip",
    "Core",
    "MatrixEngine",
    "MemoryLevel",
    "ScaleOut",
    "ScaleUp",
    "System",
    "VectorEngine",
    "chip",
    "chip_names",
    "chips",
    "load_chip",
    "load_system",
]
