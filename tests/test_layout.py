"""The package reads as the plan, and no module imports one that imports it back (issue 19).

Every `import` counts, at module level or inside a function: a deferred import only hides a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import ROOT

PACKAGE = ROOT / "logscope"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules `name` imports, anywhere in its text."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            submodules = {f"{target}.{a.name}" for a in node.names} & modules.keys()
            out |= submodules or ({target} & modules.keys())
    return out - {name}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_module_imports_one_that_imports_it_back() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert sum(len(v) for v in graph.values()) > 100  # the graph was read, not empty
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_folders_show_the_plan() -> None:
    """Where a format, a detector, a rule, an executor or a report lives, from names alone: the pipeline's
    folders (ingest -> flows -> detectors -> inventory -> report), the runners, and the commands' own."""
    for folder in ("formats", "ingest", "flows", "detectors", "inventory", "report", "runners", "live", "check", "data"):
        assert (PACKAGE / folder / "__init__.py").is_file() or folder == "data", folder
    for module in ("flows/rules.py", "runners/executors.py", "runners/shards.py", "runners/convert.py", "report/html_report.py"):
        assert (PACKAGE / module).is_file(), module
    # Only the chaining, the CLI and shared helpers lie flat.
    flat = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert flat == sorted(
        [
            "__init__.py",
            "__main__.py",
            "analysis.py",
            "choices.py",
            "cli.py",
            "errors.py",
            "privacy.py",
            "schema.py",
            "timestamps.py",
            "version.py",
        ]
    ), flat
    assert "def convert_logs" in (PACKAGE / "runners" / "convert.py").read_text()
    assert (PACKAGE / "formats" / "fields.py").is_file()


def test_no_rule_of_an_attempt_is_written_outside_the_rules_module() -> None:
    """The deciding status, success and the gap test appear in flows/rules.py only (issue 27): the carry and
    the sessionizer call the rules."""
    for path in PACKAGE.rglob("*.py"):
        if path.name == "rules.py":
            continue
        text = path.read_text("utf-8")
        assert 'filter(is_ep & (pl.col("method") == "POST"))' not in text, path
        assert ".dt.total_microseconds() <= gap" not in text and ".dt.total_microseconds() > gap" not in text, path
        assert 'pl.col("deciding_status").is_between(200, 299)' not in text, path
