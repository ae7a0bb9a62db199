"""The layers of ARCHITECTURE.md, kept by reading every module's imports (an AST test, no import-linter needed).

Each first-party module belongs to a layer; it may import its own layer and the layers below, never one above. A
first-party import sits at the top of its module (or under `if TYPE_CHECKING:`), never inside a function, so the
graph this test reads is the graph Python runs. The methods layer has one more rule: a method's folder imports the
shared library (`methods.lib`) and the contract, never another method's folder.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Bottom to top. A module's layer is the longest prefix of its dotted name found here.
LAYERS = [
    "harness",  # its empty `__init__` only: the folder of three of the layers
    "tasks",
    "harness.services",
    "methods",
    "harness.run",
    "leaderboard",
    "harness.entrypoints",
    "lampbench",
]
#: Within `methods`: the contract and the shared library under every method's folder, the registry above them.
METHOD_SHARED = ("methods", "methods.contract", "methods.lib")
SOURCE = ("tasks", "harness", "methods", "leaderboard", "lampbench")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)  # `methods.rag.method`; the API package is `lampbench`


def layer(name: str) -> int:
    matches = [i for i, prefix in enumerate(LAYERS) if name == prefix or name.startswith(prefix + ".")]
    assert matches, f"{name} is in no layer of tests/test_layers.py"
    return max(matches, key=lambda i: len(LAYERS[i]))


def first_party(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """The first-party modules an import statement names, without the `lampbench.` prefix."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        assert isinstance(node, ast.ImportFrom)
        if node.level:
            base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
            source = ".".join(["lampbench", *base, *([node.module] if node.module else [])])
        else:
            source = node.module or ""
        if source == "lampbench":  # `from lampbench import x`: the API package itself
            return ["lampbench"]
        names = [f"{source}.{alias.name}" for alias in node.names]  # a submodule or a name in it: same layer
    out = []
    for name in names:
        if name.startswith("lampbench."):
            out.append(name.removeprefix("lampbench."))
        elif name == "lampbench":
            out.append("lampbench")
    return out


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function or class) for every first-party import of a file."""
    return imports_of(path.read_text(), module_name(path), is_package=path.name == "__init__.py")


def imports_of(text: str, module: str, *, is_package: bool = False) -> list[tuple[str, int, bool]]:
    tree = ast.parse(text)
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.extend((name, child.lineno, nested) for name in first_party(child, module, is_package))
            inner = nested or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda)
            visit(child, inner)

    visit(tree, False)
    return found


def sources() -> list[Path]:
    return sorted(p for top in SOURCE for p in (ROOT / top).rglob("*.py"))


def method_folder(name: str) -> str | None:
    """`methods.rag.method` -> `methods.rag`; None for the contract, the library and the registry."""
    parts = name.split(".")
    if len(parts) < 2 or parts[0] != "methods" or ".".join(parts[:2]) in METHOD_SHARED or parts[1] == "registry":
        return None
    return ".".join(parts[:2])


def test_no_import_runs_upward_or_hides_in_a_function():
    problems = []
    for path in sources():
        module = module_name(path)
        for name, line, nested in imports(path):
            where = f"{path.relative_to(ROOT)}:{line}"
            if nested:
                problems.append(f"{where}: imports {name} inside a function or class")
            if layer(name) > layer(module):
                problems.append(f"{where}: {module} ({LAYERS[layer(module)]}) imports {name} ({LAYERS[layer(name)]})")
            own, other = method_folder(module), method_folder(name)
            if other and own != other:
                problems.append(f"{where}: {module} imports another method's folder ({name}); share it in methods.lib")
            if module.startswith(METHOD_SHARED[1:]) and name.startswith("methods.") and method_folder(name):
                problems.append(f"{where}: the shared library imports a method ({name})")
    assert not problems, "\n".join(problems)


def test_every_module_is_in_a_layer():
    for path in sources():
        layer(module_name(path))


def test_the_checker_sees_an_upward_and_a_hidden_import():
    """The test above can fail: an upward import, and one inside a function, are both seen."""
    text = "from lampbench.harness.run import runner\n\n\ndef f():\n    from . import specs\n"
    found = imports_of(text, "tasks.data")
    assert found == [("harness.run.runner", 1, False), ("tasks.specs", 5, True)]
    assert layer("harness.run.runner") > layer("tasks.data")
    assert method_folder("methods.perpcs.method") == "methods.perpcs" and method_folder("methods.lib.loop") is None
