"""The package rules of docs/architecture.md, enforced on the source tree.

* ``hw`` imports nothing of ``sw`` but ``sw.spec`` (what both must agree on),
  and ``sw.spec`` imports nothing of eiegen outside itself.
* Only the toolchain wrapper imports Unix-only modules: the host driver and
  the model loader import on Windows too.
* Module-level imports form no cycle anywhere; in ``sw.cli`` not even
  imports inside functions do (its shared helpers live in a leaf module).
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hw", "sw", "boards")
UNIX_ONLY = {"fcntl", "termios", "resource", "pwd", "grp", "posix"}


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources():
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def imports(path, top_level_only=False):
    """``(module imported, line)`` for every import in ``path``, relative ones
    resolved; with ``top_level_only``, only those that run at import time."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module
            yield module, node.lineno
            # ``from pkg import mod`` imports the module pkg.mod
            for alias in node.names:
                yield f"{module}.{alias.name}", node.lineno


def internal(module, known):
    """The eiegen module ``module`` names (itself or the package it is in)."""
    while module and module not in known:
        module = module.rpartition(".")[0]
    return module or None


def test_the_walk_sees_imports():
    # The rules below mean nothing if the walk finds no imports.
    found = {m for m, _ in imports(ROOT / "hw" / "mac.py")}
    assert "sw.spec.numerics" in found and "hw.array" in found


@pytest.mark.parametrize("path", [p for p in sources() if p.relative_to(ROOT).parts[0] == "hw"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_hw_imports_only_the_spec_of_sw(path):
    bad = [f"{path.relative_to(ROOT)}:{line} imports {m}" for m, line in imports(path)
           if (m == "sw" or m.startswith("sw.")) and not m.startswith("sw.spec")]
    assert not bad, "hw may import only sw.spec: " + "; ".join(bad)


def test_spec_imports_nothing_else_of_eiegen():
    bad = []
    for path in (ROOT / "sw" / "spec").rglob("*.py"):
        for m, line in imports(path):
            if m.split(".")[0] in PACKAGES and not m.startswith("sw.spec"):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {m}")
    assert not bad, "; ".join(bad)


def test_only_the_toolchain_wrapper_imports_unix_only_modules():
    allowed = {ROOT / "sw" / "flows" / "toolchain.py"}
    bad = [f"{p.relative_to(ROOT)}:{line} imports {m}" for p in sources() if p not in allowed
           for m, line in imports(p) if m.split(".")[0] in UNIX_ONLY]
    assert not bad, "; ".join(bad)


# Run in a fresh interpreter where the Unix-only modules cannot be imported,
# as on Windows.
WITHOUT_UNIX = """
import sys
for name in {names!r}:
    sys.modules[name] = None  # "import fcntl" now raises ImportError
import sw.host, sw.formats.model
from sw.host import Device
print("imported")
"""


def test_host_driver_and_model_loader_import_without_unix_modules():
    code = WITHOUT_UNIX.format(names=sorted(UNIX_ONLY - {"posix"}))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0 and "imported" in done.stdout, done.stderr


def test_without_unix_modules_the_toolchain_does_fail():
    # The check above can fail: the toolchain wrapper itself does not import.
    code = WITHOUT_UNIX.format(names=["fcntl"]).replace("import sw.host, sw.formats.model",
                                                        "import sw.flows.toolchain")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode != 0 and "fcntl" in done.stderr


def graph(paths, top_level_only):
    known = {module_name(p) for p in sources()}
    edges = {}
    for p in paths:
        me = module_name(p)
        edges[me] = {t for m, _ in imports(p, top_level_only)
                     if (t := internal(m, known)) and t != me}
    return edges


def cycle(edges):
    """One import cycle in ``edges`` as a list of modules, or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt, path + [nxt])):
                return found
        state[node] = "done"

    for start in sorted(edges):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_cycle_finder_finds_a_cycle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_at_import_time():
    found = cycle(graph(sources(), top_level_only=True))
    assert found is None, "import cycle: " + " -> ".join(found)


def test_no_cli_module_imports_one_that_imports_it_back():
    cli = [p for p in sources() if module_name(p).startswith("sw.cli")]
    edges = graph(cli, top_level_only=False)
    edges = {a: {b for b in bs if b.startswith("sw.cli")} for a, bs in edges.items()}
    found = cycle(edges)
    assert found is None, "sw.cli import cycle: " + " -> ".join(found)
