"""The code flows one way: easynlu's modules import each other without a cycle, and torch only in backends/.

Every import counts: at module level, inside functions and under ``if TYPE_CHECKING:``. An edge room
(saved, search, spark, stream, ...) that imported ``pipeline`` back, even for a type, would close a
cycle with ``Pipeline``'s lazy import of it, and fail here: rooms use ``easynlu.protocol.Embedder``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import easynlu

PACKAGE = Path(easynlu.__file__).parent
TORCH_ALLOWED = ("backends", "train")  # folders of easynlu whose modules may import torch


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package in ``root``, by dotted name (a package is its ``__init__``)."""
    found = {}
    for file in sorted(root.rglob("*.py")):
        parts = list(file.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join([package, *parts])] = file
    return found


def imports_of(name: str, file: Path, modules: dict[str, Path]) -> set[str]:
    """The modules ``name`` imports, anywhere in its file, absolute names; other packages' too."""
    is_package = file.name == "__init__.py"
    here = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = here
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            source = ".".join(p for p in (base if node.level else "", node.module or "") if p)
            for alias in node.names:  # `from . import x` imports the module x when there is one
                child = f"{source}.{alias.name}"
                found.add(child if child in modules else source)
    return found


def graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (its own name left out)."""
    modules = module_files(root, package)
    return {name: {m for m in imports_of(name, file, modules) if m in modules and m != name}
            for name, file in modules.items()}


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it (first repeated last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


def torch_importers(root: Path, package: str) -> list[str]:
    """Modules outside the allowed folders that import torch (or a torch submodule)."""
    modules = module_files(root, package)
    bad = []
    for name, file in modules.items():
        folder = name.split(".")[1] if name.count(".") >= 1 else ""
        if folder in TORCH_ALLOWED and (name.count(".") >= 2 or file.name == "__init__.py"):
            continue
        if any(m == "torch" or m.startswith("torch.") for m in imports_of(name, file, modules)):
            bad.append(name)
    return bad


# -- easynlu itself ------------------------------------------------------------------------------
def test_import_graph_of_easynlu_has_no_cycle():
    assert cycle(graph(PACKAGE, "easynlu")) is None


def test_import_graph_torch_only_in_backends():
    assert torch_importers(PACKAGE, "easynlu") == []


def test_import_graph_edge_rooms_never_import_the_pipeline():
    edges = graph(PACKAGE, "easynlu")
    rooms = ["easynlu.saved", "easynlu.search", "easynlu.spark", "easynlu.stream", "easynlu.plot", "easynlu.nlu",
             "easynlu.frames", "easynlu.layout", "easynlu.protocol"]
    for room in rooms:
        assert "easynlu.pipeline" not in edges[room] and "easynlu" not in edges[room], room


# -- the checker catches what it should, on a made-up package -------------------------------------
def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.mark.parametrize("b_imports", [
    "from . import a",                                     # module level
    "def f():\n    from .a import thing\n",                # inside a function
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import Thing\n",  # for types only
    "from .. import a\n",                                   # from a subpackage
])
def test_import_graph_finds_a_cycle_however_it_is_written(tmp_path, b_imports):
    sub = "sub/" if b_imports.startswith("from ..") else ""
    b_name = "pkg.sub.b" if sub else "pkg.b"
    root = write_tree(tmp_path / "pkg", {"__init__.py": "", "sub/__init__.py": "", "c.py": "x = 1\n",
                                         "a.py": f"from {'.sub ' if sub else '. '}import b\nfrom . import c\n",
                                         f"{sub}b.py": b_imports})
    found = cycle(graph(root, "pkg"))
    assert found is not None and {"pkg.a", b_name} <= set(found) and "pkg.c" not in found
    write_tree(root, {f"{sub}b.py": "from . import c\n" if not sub else "from .. import c\n"})
    assert cycle(graph(root, "pkg")) is None


def test_import_graph_finds_torch_outside_backends(tmp_path):
    root = write_tree(tmp_path / "pkg", {"__init__.py": "", "backends/__init__.py": "def f():\n    import torch\n",
                                         "backends/model.py": "import torch.nn\n", "frames.py": "x = 1\n"})
    assert torch_importers(root, "pkg") == []
    write_tree(root, {"frames.py": "def f():\n    from torch import nn\n"})
    assert torch_importers(root, "pkg") == ["pkg.frames"]


# -- the README's module map is the graph's ------------------------------------------------------
def readme_tiers() -> dict[str, int]:
    """The README's module map: module (as easynlu.X) -> its tier."""
    import re

    text = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d) \| `([\w.]+)` \|", text, flags=re.MULTILINE)
    return {("easynlu" if name == "__init__" else f"easynlu.{name}"): int(tier) for tier, name in rows}


def test_import_graph_every_module_is_in_the_readme_map():
    tiers, modules = readme_tiers(), graph(PACKAGE, "easynlu")
    assert sorted(tiers) == sorted(modules), "add the module to README.md's module map (or remove its line)"


def test_import_graph_imports_go_down_the_tiers_of_the_readme_map():
    tiers = readme_tiers()
    upward = [(a, b) for a, targets in graph(PACKAGE, "easynlu").items() for b in targets if tiers[b] > tiers[a]]
    assert upward == [], "a module imports one of a higher tier: move one of them, or fix the map"
