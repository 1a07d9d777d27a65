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


@pytest.mark.parametrize(
    "path", [p for p in _ALL if ROOT / "smartcharge/config" not in p.parents], ids=_rel
)
def test_only_config_reads_the_environment(path: Path):
    """Settings have one reader (the config package); no other module reads os.environ/getenv."""
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
        {
            "smartcharge.domain",
            "smartcharge.errors",
            "smartcharge.clock",
            "smartcharge.ports",  # the Charger port it implements (ChargerCapabilities)
            "smartcharge.ocpp.",
        },
        {"ocpp", "aiohttp", "structlog"},
    ),
}


@pytest.mark.parametrize(
    ("package", "path"),
    [(pkg, p) for pkg in _ADAPTER_IMPORTS for p in _modules(pkg)],
    ids=lambda v: v if isinstance(v, str) else _rel(v),
)
def test_adapters_import_only_what_their_table_allows(package: str, path: Path):
    """An adapter package sees the domain, errors, clock, ports, itself and its libraries."""
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


# --- The layer table and the cycle check (issue 13, item 7) ---------------------------------------
#
# The import graph of smartcharge/ and strategies/ is built from every import statement, relative
# ones resolved against the importing module's package, imports inside functions and under
# TYPE_CHECKING included (a type is a dependency too). ``from pkg import name`` counts as an
# import of ``pkg.name`` when that is a module, else of ``pkg``. A module's own package (the part
# after the first-level package, e.g. ``smartcharge.wallbox.*``) may import itself freely.

_ANYTHING = None  # the outer ring: may import every module
_BASE = ("smartcharge", "smartcharge.domain", "smartcharge.errors", "smartcharge.clock")

# Module (or package) -> what it may import from smartcharge/ and strategies/ besides itself.
# The longest matching name wins; every module must match a row, so a new module is placed on
# purpose. ``smartcharge`` alone means the package's __init__ (``__version__`` only).
_LAYER_TABLE: dict[str, tuple[str, ...] | None] = {
    # the innermost ring: the standard library only (test_innermost_ring_imports_only_stdlib)
    "smartcharge": (),
    "smartcharge.domain": (),
    "smartcharge.errors": (),
    "smartcharge.clock": (),
    # small helpers with no project dependency beyond the innermost ring
    "smartcharge.localtime": _BASE,
    "smartcharge.http": _BASE,
    "smartcharge.logsetup": _BASE,
    "smartcharge.number_text": _BASE,
    "smartcharge.storage": _BASE,
    "smartcharge.codec": _BASE,
    "smartcharge.statedir": (*_BASE, "smartcharge.storage"),
    # the pure core
    "smartcharge.ports": _BASE,
    "smartcharge.pricing": _BASE,
    "strategies": _BASE,
    # the session core may also use the pure helpers of its own ring: the car's draw share
    # (carprofile) and the local deadline's next instant (localtime)
    "smartcharge.session": (
        *_BASE,
        "smartcharge.ports",
        "strategies.base",
        "smartcharge.carprofile",
        "smartcharge.localtime",
    ),
    "smartcharge.carprofile": _BASE,
    # adapters: pricing is pure core (it points inward), so the price adapters may convert with it
    "smartcharge.wallbox": (
        *_BASE,
        "smartcharge.ports",
        "smartcharge.storage",
        "smartcharge.codec",
    ),
    "smartcharge.prices": (
        *_BASE,
        "smartcharge.ports",
        "smartcharge.storage",
        "smartcharge.pricing",
    ),
    "smartcharge.wallbox.defaults": (),  # data, read by config too
    "smartcharge.ocpp": (*_BASE, "smartcharge.ports", "smartcharge.storage"),
    # persistence: state files are written through storage
    "smartcharge.state": (
        *_BASE,
        "smartcharge.session",
        "smartcharge.storage",
        "smartcharge.codec",
    ),
    "smartcharge.ledger": (
        *_BASE,
        "smartcharge.session",
        "smartcharge.storage",
        "smartcharge.codec",
    ),
    "smartcharge.manual": (
        *_BASE,
        "smartcharge.session",
        "smartcharge.storage",
        "smartcharge.codec",
    ),
    "smartcharge.carstore": (*_BASE, "smartcharge.carprofile", "smartcharge.storage"),
    # settings: validates strategy names against the registry, bidding zones against the zone
    # list that lives beside the ENTSO-E adapter (a data module, no imports)
    # and takes the Wallbox adapter's defaults from their data module (no imports)
    "smartcharge.config": (
        *_BASE,
        "strategies",
        "smartcharge.number_text",
        "smartcharge.prices.zones",
        "smartcharge.wallbox.defaults",
    ),
    # what changed between two Settings and what each change asks for (pure; issue 14 item 1)
    "smartcharge.settings_diff": (*_BASE, "smartcharge.config"),
    # the outer ring
    "smartcharge.__main__": _ANYTHING,
    "smartcharge.cli": _ANYTHING,
    "smartcharge.demo": _ANYTHING,
    "smartcharge.runtime": _ANYTHING,
    # the .env watcher reads one file and loads it as run does; it builds nothing
    "smartcharge.runtime.envwatch": (*_BASE, "smartcharge.config", "smartcharge.settings_diff"),
    "smartcharge.simulator": _ANYTHING,
    "smartcharge.tools": _ANYTHING,
    # the local HTTP server (issue 14): an adapter of the outer ring (aiohttp); what it shows
    # and reads is pure: the documents are functions of the daemon's state (session, ledger,
    # plan, prices, car), the body and the guard's checks of text, the health check of facts
    # The server itself knows the daemon only through its view (web.view, built by
    # runtime.compose): never the runtime, a charger or a price adapter.
    "smartcharge.web": (
        *_BASE,
        "smartcharge.session",
        "smartcharge.ledger",
        "smartcharge.carprofile",
        "smartcharge.config",
        "strategies.base",
    ),
    "smartcharge.web.health": _BASE,
    # the page: pure HTML from the documents
    "smartcharge.web.page": (
        *_BASE,
        "smartcharge.session",
        "smartcharge.web.chart",
        "smartcharge.web.page_assets",
        "smartcharge.web.timefmt",
    ),
    "smartcharge.web.chart": (*_BASE, "smartcharge.web.page_assets", "smartcharge.web.timefmt"),
    "smartcharge.web.timefmt": _BASE,
    "smartcharge.web.page_assets": _BASE,
    "smartcharge.web.form": (*_BASE, "smartcharge.session"),
    # the facts also carry what the settings say of the energy cost in the app (a value of
    # config.readiness, the one source `smartcharge status` uses too)
    "smartcharge.web.view": (
        *_BASE,
        "smartcharge.session",
        "smartcharge.ledger",
        "smartcharge.carprofile",
        "smartcharge.config.readiness",
        "smartcharge.web.health",
    ),
    "smartcharge.web.documents": (
        *_BASE,
        "smartcharge.session",
        "smartcharge.ledger",
        "strategies.base",
        "smartcharge.pricing",
        "smartcharge.carprofile",
        "smartcharge.localtime",
        "smartcharge.web.view",
    ),
    "smartcharge.web.body": (*_BASE, "smartcharge.session"),
    "smartcharge.web.auth": (*_BASE, "smartcharge.config.http"),
}

# Today's breaks of the table, each to be removed by issue 13 (the daemon rebuild). The list may
# only shrink: the test fails on a break that is not here AND on an entry that no longer happens.
_KNOWN_LAYER_BREAKS: set[tuple[str, str]] = set()

# Today's import cycles (strongly connected components), each to be removed by issue 13.
_KNOWN_CYCLES: set[frozenset[str]] = set()


def _module_names(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under the given top-level packages."""
    names = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names[".".join(parts)] = path
    return names


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute name an ``ImportFrom`` refers to, relative levels resolved."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
    if node.level - 1 > len(package) or not base:
        raise ValueError(f"{path}:{node.lineno}: relative import beyond the top-level package")
    return ".".join([*base, node.module] if node.module else base)


def _import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (its own name excluded)."""
    modules = _module_names(root, packages)

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(known(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(module, path, node)
                for alias in node.names:
                    child = f"{source}.{alias.name}"
                    targets.add(child if child in modules else known(source))
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def _within(name: str, entry: str) -> bool:
    """Whether module ``name`` is ``entry`` or inside it (the bare root matches only itself)."""
    return name == entry or entry != "smartcharge" and name.startswith(entry + ".")


def _row(module: str, table: dict[str, tuple[str, ...] | None]) -> str | None:
    rows = [entry for entry in table if _within(module, entry)]
    return max(rows, key=len) if rows else None


def _layer_breaks(
    graph: dict[str, set[str]], table: dict[str, tuple[str, ...] | None]
) -> set[tuple[str, str]]:
    """(importer, imported) pairs the table forbids; an unplaced module shows as (module, "?")."""
    breaks = set()
    for module, imported in graph.items():
        row = _row(module, table)
        if row is None:
            breaks.add((module, "?"))
            continue
        allowed = table[row]
        if allowed is _ANYTHING:
            continue
        for target in imported:
            if _within(target, row) or any(_within(target, entry) for entry in allowed):
                continue
            breaks.add((module, target))
    return breaks


def _cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.add(frozenset(component))
    return found


_GRAPH = _import_graph(ROOT, ("smartcharge", "strategies"))


def test_imports_follow_the_layer_table():
    """No import breaks the layer table, beyond the known breaks that issue 13 removes."""
    breaks = _layer_breaks(_GRAPH, _LAYER_TABLE)

    assert set() == breaks - _KNOWN_LAYER_BREAKS, "new layer breaks (or unplaced modules, '?')"
    assert set() == _KNOWN_LAYER_BREAKS - breaks, "fixed: remove these from _KNOWN_LAYER_BREAKS"


def test_no_import_cycles():
    """No two modules import each other, directly or around a loop, beyond the known cycles."""
    cycles = _cycles(_GRAPH)

    assert set() == cycles - _KNOWN_CYCLES, "new import cycles"
    assert set() == _KNOWN_CYCLES - cycles, "fixed: remove these from _KNOWN_CYCLES"


def test_innermost_ring_imports_only_stdlib():
    """domain, errors, clock and the package's __init__ import the standard library only."""
    inner = _module_names(ROOT, ("smartcharge",))
    bad = {
        (module, name)
        for module in (
            "smartcharge",
            "smartcharge.domain",
            "smartcharge.errors",
            "smartcharge.clock",
        )
        for name in _imports(inner[module])
        if name.split(".")[0] not in STDLIB
    }

    assert set() == bad


# --- The checker catches what it must: planted modules in a temporary tree ------------------------


def _plant(root: Path, files: dict[str, str]) -> dict[str, set[str]]:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return _import_graph(root, ("smartcharge", "strategies"))


_CLEAN_TREE = {
    "smartcharge/__init__.py": "",
    "smartcharge/domain.py": "import datetime\n",
    "smartcharge/config.py": "from smartcharge import errors\n",
    "smartcharge/errors.py": "",
    "smartcharge/wallbox/__init__.py": "from smartcharge.wallbox.client import Client\n",
    "smartcharge/wallbox/client.py": "from . import models\nfrom ..domain import Slot\n",
    "smartcharge/wallbox/models.py": "from smartcharge.domain import Slot\n",
    "strategies/__init__.py": "",
    "strategies/base.py": "from smartcharge.domain import Slot\n",
}


def test_checker_passes_a_clean_planted_tree(tmp_path: Path):
    graph = _plant(tmp_path, _CLEAN_TREE)

    assert {"smartcharge.domain", "smartcharge.wallbox.models"} == graph[
        "smartcharge.wallbox.client"
    ]
    assert set() == _layer_breaks(graph, _LAYER_TABLE)
    assert set() == _cycles(graph)


def test_checker_catches_a_layer_break(tmp_path: Path):
    graph = _plant(
        tmp_path, {**_CLEAN_TREE, "smartcharge/domain.py": "import smartcharge.config\n"}
    )

    assert {("smartcharge.domain", "smartcharge.config")} == _layer_breaks(graph, _LAYER_TABLE)


def test_checker_catches_a_relative_import_layer_break(tmp_path: Path):
    bad = {**_CLEAN_TREE, "smartcharge/wallbox/models.py": "from ..config import Settings\n"}
    graph = _plant(tmp_path, bad)

    assert {("smartcharge.wallbox.models", "smartcharge.config")} == _layer_breaks(
        graph, _LAYER_TABLE
    )


def test_checker_catches_a_relative_from_package_import_name(tmp_path: Path):
    bad = {**_CLEAN_TREE, "smartcharge/wallbox/__init__.py": "from .. import config, domain\n"}
    graph = _plant(tmp_path, bad)

    assert {("smartcharge.wallbox", "smartcharge.config")} == _layer_breaks(graph, _LAYER_TABLE)


def test_checker_rejects_a_relative_import_beyond_the_top_level(tmp_path: Path):
    with pytest.raises(ValueError, match=r"strategies/base\.py:1: relative import beyond"):
        _plant(tmp_path, {**_CLEAN_TREE, "strategies/base.py": "from .. import smartcharge\n"})


def test_checker_catches_an_unplaced_module(tmp_path: Path):
    graph = _plant(tmp_path, {**_CLEAN_TREE, "smartcharge/newthing.py": ""})

    assert {("smartcharge.newthing", "?")} == _layer_breaks(graph, _LAYER_TABLE)


def test_checker_catches_a_cycle(tmp_path: Path):
    cyclic = {
        **_CLEAN_TREE,
        "smartcharge/runtime/daemon.py": "from smartcharge.runtime.health import serve\n",
        "smartcharge/runtime/health.py": "def serve():\n    from .daemon import Daemon\n",
        "strategies/a.py": "from strategies import b\n",
        "strategies/b.py": "from strategies.c import f\n",
        "strategies/c.py": "import strategies.a\n",
    }
    graph = _plant(tmp_path, cyclic)

    assert {
        frozenset({"smartcharge.runtime.daemon", "smartcharge.runtime.health"}),
        frozenset({"strategies.a", "strategies.b", "strategies.c"}),
    } == _cycles(graph)
    # the outer ring may import anything, yet the cycle is still caught
    assert set() == _layer_breaks(graph, _LAYER_TABLE)
