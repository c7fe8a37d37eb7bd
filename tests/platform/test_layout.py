"""The package's seams, held from now on: the environment is read only in `settings.py`; no import cycle between
modules; a dataset's `source.py` stays free of Dagster, also through the platform modules it imports; resource hints
are importable without Dagster or Celery. Static checks (AST) plus one subprocess import: no run, no fixtures."""

import ast
import os
import subprocess
import sys
from pathlib import Path

from dagster_project import settings

PKG = settings.REPO_ROOT / "dagster_project"

# Environment reads outside settings.py that remain, in files owned elsewhere at the moment: each is to move into
# settings.py. A new read anywhere else fails the test; a read removed from one of these fails it too (so the list
# only shrinks).
ENV_READS_ALLOWED: dict[str, int] = {}

# Import cycles that remain, in files owned elsewhere at the moment (dataset_cards imports model_cards.hf_license in
# a function; model_cards imports dataset_cards at module level).
CYCLES_ALLOWED = [{"dagster_project.dataset_cards", "dagster_project.model_cards"}]


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        parts = list(path.relative_to(settings.REPO_ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _env_reads(tree: ast.AST) -> list[int]:
    """Lines that read this process's environment: `os.environ` (any use), `os.getenv`, `environ`/`getenv`
    imported from os. (Another process's environment, e.g. psutil's `Process.environ()`, is not a setting.)"""
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("environ", "getenv", "environb", "getenvb")
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            lines += [
                node.lineno for a in node.names if a.name in ("environ", "getenv", "environb", "getenvb")
            ]
    return lines


def test_only_settings_reads_the_environment():
    found = {}
    for path in _modules().values():
        rel = path.relative_to(settings.REPO_ROOT).as_posix()
        if rel == "dagster_project/settings.py":
            continue
        lines = _env_reads(ast.parse(path.read_text()))
        if lines:
            found[rel] = len(lines)
    assert found == ENV_READS_ALLOWED, (
        "read the environment through a function of dagster_project/settings.py "
        f"(found {found}, allowed {ENV_READS_ALLOWED})"
    )


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules `name` imports, at module level or inside functions (a lazy import is still an edge),
    but not under `if TYPE_CHECKING:`. `from pkg import sub` is an edge to `pkg.sub` only."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if (
            isinstance(node, ast.If)
            and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING"
        ):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for a in node.names:
                if f"{base}.{a.name}" in modules:
                    out.add(f"{base}.{a.name}")
                elif base in modules:
                    out.add(base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    out.discard(name)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return found


def test_no_import_cycles():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert "dagster_project.cluster" not in graph["dagster_project.definitions"]
    cycles = _cycles(graph)
    assert [c for c in cycles if c not in CYCLES_ALLOWED] == []
    assert all(c in cycles for c in CYCLES_ALLOWED), "a listed cycle is gone: remove it from CYCLES_ALLOWED"


def _is_dagster(module: str) -> bool:
    """Dagster or one of its integrations (dagster_dbt, dagster_celery, ...), not this package."""
    top = module.split(".")[0]
    return top.startswith("dagster") and top != "dagster_project"


def test_source_modules_and_resource_hints_need_no_dagster():
    """`docs/adding-a-dataset.md`: `source.py` holds pure readers. Its own dataset modules import no Dagster, and
    the platform modules it imports load without Dagster (checked by importing them in a fresh interpreter)."""
    modules = _modules()
    platform_imports, direct = {"dagster_project.resource_hints"}, []
    for source in sorted(PKG.glob("datasets/*/source.py")):
        name = ".".join(source.relative_to(settings.REPO_ROOT).with_suffix("").parts)
        dataset_pkg = name.rpartition(".")[0]
        seen, todo = set(), [name]
        while todo:  # the source module and the dataset's own modules it imports, transitively
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            tree = ast.parse(modules[current].read_text())
            for node in ast.walk(tree):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom) and not node.level
                    else []
                )
                direct += [f"{current}: {n}" for n in names if _is_dagster(n)]
            for dep in _imports(current, modules[current], modules):
                if dep.startswith(dataset_pkg + "."):
                    todo.append(dep)
                elif not dep.startswith("dagster_project.datasets"):
                    platform_imports.add(dep)
    assert direct == []
    assert "dagster_project.records" in platform_imports  # the record parsers two datasets re-export
    code = (
        "import importlib, sys\n"
        f"for m in {sorted(platform_imports)!r}: importlib.import_module(m)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in "
        "('dagster', 'dagster_celery', 'dagster_dbt', 'celery')}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=settings.REPO_ROOT
    )
    assert out.stdout.strip() == "[]", f"{sorted(platform_imports)} pull in {out.stdout.strip()}"


def test_settings_readers_waiting_for_the_remaining_variables(monkeypatch):
    """The readers the allow-listed files are to call instead of `os.environ` (same names, same defaults)."""
    monkeypatch.setenv("CDP_AGBD_FILES", " tiles/a.h5, ,tiles/b.h5 ")
    monkeypatch.delenv("CDP_EXIONAICS_FILES", raising=False)
    assert settings.source_files("agbd") == ["tiles/a.h5", "tiles/b.h5"]
    assert settings.source_files("exionaics") == []
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    default = settings.REPO_ROOT / ".dagster_home"
    assert settings.dagster_home() == default and "DAGSTER_HOME" not in os.environ
    assert settings.dagster_home(export=True) == default and os.environ["DAGSTER_HOME"] == str(default)
    monkeypatch.setenv("DAGSTER_HOME", "/srv/dagster")
    assert str(settings.dagster_home(export=True)) == "/srv/dagster"
