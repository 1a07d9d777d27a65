"""Dependencies point inward, and a few global rules hold (STYLE.md §1, §4, §6).

The imports and calls are read with ``ast``, so the rules are checked, not trusted.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STDLIB = sys.stdlib_module_names


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", _modules("strategies"), ids=_rel)
def test_strategies_import_only_stdlib_and_the_domain(path: Path):
    """Strategies are pure: the standard library, smartcharge.domain/errors and each other."""
    allowed = {"smartcharge.domain", "smartcharge.errors"}
    bad = {
        name
        for name in _imports(path)
        if name.split(".")[0] not in STDLIB
        and name not in allowed
        and name.split(".")[0] != "strategies"
    }

    assert set() == bad


def test_domain_imports_only_the_standard_library():
    """The domain types are the innermost layer."""
    bad = {n for n in _imports(ROOT / "smartcharge/domain.py") if n.split(".")[0] not in STDLIB}

    assert set() == bad


_DAEMON_PATH = [
    p
    for p in _modules("smartcharge")
    if "simulator" not in p.parts and "cli" not in p.parts and p.name != "demo.py"
]


@pytest.mark.parametrize("path", _DAEMON_PATH, ids=_rel)
def test_only_the_demo_and_cli_import_the_simulator(path: Path):
    """The simulated outside world never leaks into the daemon's own path."""
    uses = {n for n in _imports(path) if n.startswith("smartcharge.simulator")}

    assert set() == uses


_ALL = [*_modules("smartcharge"), *_modules("strategies")]


@pytest.mark.parametrize("path", [p for p in _ALL if p != ROOT / "smartcharge/clock.py"], ids=_rel)
def test_no_wall_clock_reads_outside_clock_module(path: Path):
    """Only SystemClock reads the wall clock; everything else gets an injected Clock."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if (
                node.func.attr in ("now", "utcnow", "today") and owner_name in ("datetime", "date")
            ) or (node.func.attr == "time" and owner_name == "time"):
                calls.append(f"{_rel(path)}:{node.lineno}")

    assert [] == calls


@pytest.mark.parametrize("path", [p for p in _ALL if p != ROOT / "smartcharge/config.py"], ids=_rel)
def test_only_config_reads_the_environment(path: Path):
    """Settings have one reader (config.py); no other module reads os.environ or getenv."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    reads = [
        f"{_rel(path)}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in ("environ", "getenv")
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    ]

    assert [] == reads


# What each adapter package may import beside the standard library: smartcharge modules (exact
# names or packages ending in ".") and third-party distributions (top-level names).
_ADAPTER_IMPORTS = {
    "smartcharge/ocpp": (
        {"smartcharge.domain", "smartcharge.errors", "smartcharge.clock", "smartcharge.ocpp."},
        {"ocpp", "aiohttp", "structlog"},
    ),
}


@pytest.mark.parametrize(
    ("package", "path"),
    [(pkg, p) for pkg in _ADAPTER_IMPORTS for p in _modules(pkg)],
    ids=lambda v: v if isinstance(v, str) else _rel(v),
)
def test_adapters_import_only_what_their_table_allows(package: str, path: Path):
    """An adapter package sees the domain, the errors, the clock, itself and its libraries."""
    ours, third_party = _ADAPTER_IMPORTS[package]
    bad = set()
    for name in _imports(path):
        top = name.split(".")[0]
        if top in STDLIB or top in third_party and top != "smartcharge":
            continue
        if name in ours or any(name.startswith(p) for p in ours if p.endswith(".")):
            continue
        bad.add(name)

    assert set() == bad
