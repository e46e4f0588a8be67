"""The import graph of nblabel's modules: no cycle, and no import from a higher layer of docs/architecture.md.

Every ``nblabel/*.py`` is parsed, not imported, so an import inside a function or under ``TYPE_CHECKING``
counts as much as one at the top of the file: each is a dependency a reader (and a refactoring) has to follow.
"""

from __future__ import annotations

import ast
import pickle
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "nblabel"
DOC = ROOT / "docs" / "architecture.md"


def modules() -> set[str]:
    """Names of nblabel's modules, without the package's ``__init__``."""
    return {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}


def imports_of(source: str, known: set[str]) -> set[str]:
    """The nblabel modules one module's source imports, wherever the import statement is."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # ``from . import x`` / ``from .x import y`` are nblabel's own modules too.
            base = "nblabel" + (f".{node.module}" if node.module else "") if node.level else node.module or ""
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "nblabel" and len(parts) > 1 and parts[1] in known:
                found.add(parts[1])
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the nblabel modules it imports (``__init__`` left out, as on both sides of an edge)."""
    known = modules()
    return {name: imports_of((PACKAGE / f"{name}.py").read_text(), known) - {name} for name in sorted(known)}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None (depth-first search with three colours)."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return path[path.index(node) :] + [node]
        if node in done:
            return None
        path.append(node)
        for nxt in sorted(graph[node]):
            cycle = visit(nxt)
            if cycle:
                return cycle
        path.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start)
        if cycle:
            return cycle
    return None


def doc_layers(text: str) -> list[tuple[str, list[str]]]:
    """The numbered list of the doc's "Layers" section, bottom first: (layer name, its modules)."""
    section = re.search(r"^## Layers\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, f"{DOC} has no '## Layers' section; expected the layer list the import test reads."
    items = re.findall(r"^\d+\. \*\*(.+?)\*\*:(.*(?:\n {3}.*)*)", section.group(1), re.M)
    assert items, f"expected a numbered list '1. **Name**: `module`, ...' under '## Layers' in {DOC}"
    return [(name, re.findall(r"`(\w+)`", names)) for name, names in items]


def layer_violations(graph: dict[str, set[str]], layers: list[tuple[str, list[str]]]) -> list[str]:
    """Each import that goes from a module to one in a higher layer, as a readable line."""
    level = {module: i for i, (_, members) in enumerate(layers) for module in members}
    return [
        f"{a} ({layers[level[a]][0]}) imports {b} ({layers[level[b]][0]})"
        for a in sorted(graph)
        for b in sorted(graph[a])
        if level[b] > level[a]
    ]


def test_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "nblabel modules import each other: " + " -> ".join(cycle)


def test_layers_in_the_doc_hold():
    graph = import_graph()
    layers = doc_layers(DOC.read_text())
    listed = [module for _, members in layers for module in members]
    twice = sorted({m for m in listed if listed.count(m) > 1})
    assert not twice, f"modules listed in more than one layer of {DOC.name}: {twice}"
    missing = sorted(set(graph) - set(listed))
    assert not missing, f"modules not in the layer list of {DOC.name}: {missing}; add each to its layer."
    stale = sorted(set(listed) - set(graph))
    assert not stale, f"{DOC.name} lists modules that do not exist: {stale}"
    violations = layer_violations(graph, layers)
    assert not violations, "imports from a higher layer:\n" + "\n".join(violations)


def test_the_checks_see_every_import_form_and_catch_what_they_should():
    known = {"session", "state", "cache", "files", "graph"}
    source = """
import nblabel.graph
from nblabel import cache
from nblabel.files import atomic_write
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from .session import Session

def f():
    from . import state
import nblabel
import numpy
"""
    assert imports_of(source, known) == known
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    layers = doc_layers("## Layers\n\n1. **Low**: `a`,\n   `b`\n2. **High**: `c`\n\n## Next\n")
    assert layers == [("Low", ["a", "b"]), ("High", ["c"])]
    assert layer_violations({"a": {"c"}, "b": {"a"}, "c": {"b"}}, layers) == ["a (Low) imports c (High)"]


def test_session_state_keeps_its_public_names_and_old_pickles():
    import nblabel
    import nblabel.session
    from nblabel.state import SessionState

    assert nblabel.SessionState is nblabel.session.SessionState is SessionState
    z = np.zeros(2, np.int32)
    state = SessionState(1, 2, 2, ("a",), z, z, np.zeros((2, 1), np.float32), z, z, z, z.astype(bool))
    # A snapshot pickled before the class moved names it by its old module, which must still resolve
    # (protocol 2 writes the class as text, "nblabel.state\nSessionState\n", so the name can be swapped).
    old = pickle.dumps(state, protocol=2).replace(b"nblabel.state\n", b"nblabel.session\n")
    assert b"nblabel.session\n" in old
    back = pickle.loads(old)
    assert isinstance(back, SessionState) and repr(back) == repr(state)
