"""The layout holds: front ends go through the facade, storage stays in store/, and no module import
forms a cycle. Read from the source (no imports executed), so it runs without data or models."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "artlens"
# What the CLI and the web app may import from ArtLens: the facade and its pure-data companions.
FACADE = {"artlens", "artlens.errors", "artlens.results", "artlens.vocabulary"}
FRONT_ENDS = ("artlens.cli", "artlens.web")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Absolute names of the modules a file imports anywhere in it (`from a import b` counts a.b when a.b is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                # `from pkg import module` needs the module; `from pkg import name` needs pkg itself.
                found.add(candidate if _is_module(candidate) else node.module)
    return found


def _is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def sources() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def test_front_ends_import_only_the_facade() -> None:
    wrong = {}
    for name, path in sources().items():
        if not name.startswith(FRONT_ENDS):
            continue
        below = {m for m in imports(path) if m.startswith("artlens") and m not in FACADE and not m.startswith(FRONT_ENDS)}
        if below:
            wrong[name] = sorted(below)
    assert wrong == {}


def test_sqlalchemy_and_the_catalog_stay_in_store() -> None:
    wrong = {}
    for name, path in sources().items():
        if name.startswith("artlens.store"):
            continue
        found = {m for m in imports(path) if m.split(".")[0] == "sqlalchemy" or m == "artlens.store.catalog"}
        if found:
            wrong[name] = sorted(found)
    assert wrong == {}


def test_no_import_cycles() -> None:
    """Imports between ArtLens modules form no cycle, deferred (in-function) imports included."""
    mods = sources()
    graph = {name: {m for m in imports(path) if m in mods and m != name} for name, path in mods.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert cycles == []


def test_the_cli_starts_without_heavy_libraries() -> None:
    """`artlens --help` must not load numpy, SQLAlchemy, FAISS, ONNX Runtime, scikit-learn, matplotlib or torch."""
    import subprocess
    import sys

    code = ("import sys; from typer.testing import CliRunner; from artlens.cli import app; "
            "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output; "
            "heavy = {'numpy', 'sqlalchemy', 'faiss', 'onnxruntime', 'sklearn', 'matplotlib', 'torch', 'PIL', 'fastapi'}; "
            "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_label_heads_and_style_spaces_train_without_torch() -> None:
    """The default install has no torch: a collection's label training (label heads, learned style
    spaces) must run with torch unimportable (blocked by a meta-path finder in a fresh interpreter)."""
    import subprocess
    import sys

    code = """
import sys

class NoTorch:  # a meta-path finder: `import torch` raises ImportError, as without the train extra
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'torch':
            raise ImportError('torch is blocked')

sys.meta_path.insert(0, NoTorch())
import numpy as np
import artlens
from artlens.learn import train_head
from artlens.learn.style_space import train_style_space
rng = np.random.default_rng(0)
raw = {'content': rng.normal(size=(60, 12)).astype(np.float32), 'style': rng.normal(size=(60, 8)).astype(np.float32)}
groups = [f'g{i // 3}' for i in range(60)]
labels = ['a' if i % 2 else 'b' for i in range(60)]
train_head(raw, labels, 'one-of-many', groups, model='mlp', hidden=8)
train_head(raw, [{'x': i % 3 == 0, 'y': None if i % 4 else True} for i in range(60)], 'many', groups, model='auto', hidden=8)
train_style_space(raw, groups, epochs=2)
train_style_space(raw, groups, loss='triplet', labels=[labels], epochs=2)
print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "[]"
