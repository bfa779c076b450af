"""Layers import downward only (DESIGN.md): a module may import its own layer or those above."""

import ast
from pathlib import Path

import tigris

ORDER = [
    "units",
    "dtypes",
    "errors",
    "spec",
    "workload",
    "mapping",
    "cost",
    "measure",
    "physical",
    "serve",
    "train",
    "explore",
    "report",
    "evaluate",
    "cli",
    "__main__",
    "__init__",
]
ROOT = Path(tigris.__file__).parent


def _layer(module: str) -> str:
    return module.split(".")[1] if "." in module else "__init__"


def test_no_module_imports_a_layer_below_it():
    upward = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        mine = rel.parts[0]
        if mine == "__init__":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("tigris."):
                    theirs = _layer(name)
                    if ORDER.index(theirs) > ORDER.index(mine):
                        upward.append(f"{rel} imports {name}")
    assert upward == []


def test_every_layer_is_in_the_order():
    layers = {p.relative_to(ROOT).with_suffix("").parts[0] for p in ROOT.rglob("*.py")}
    assert layers <= set(ORDER)
