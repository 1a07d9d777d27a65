"""Security checks that need no daemon: TLS always verified, private files, a locked-down container.

- No code under ``smartcharge/`` or ``strategies/`` turns TLS verification off (``ssl=False``,
  ``verify_ssl=False``, ``verify=False``, ``CERT_NONE``, ``check_hostname = False``,
  ``_create_unverified_context``), found by parsing every module with ``ast``; the scanner
  itself is shown to catch each pattern.
- The state dir is 0700 and every file written through ``smartcharge.storage`` is 0600, whatever
  the umask, including the ``.bak`` copy and a corrupt file moved aside.
- ``docker/compose.yaml`` (read as text: no YAML parser is a dependency) runs the service as a
  non-root user with a read-only root filesystem, writable only at ``/data`` (and a tmpfs
  ``/tmp``), all capabilities dropped; the Dockerfile ends as a non-root user and bakes in no
  secret.
"""

from __future__ import annotations

import ast
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smartcharge import storage
from smartcharge.logsetup import register_secret

ROOT = Path(__file__).resolve().parent.parent
_CODE_DIRS = ("smartcharge", "strategies", "docker")
_TLS_KEYWORDS = {"ssl", "verify_ssl", "verify", "check_hostname", "ssl_context"}
_TLS_NAMES = {"CERT_NONE", "_create_unverified_context", "PYTHONHTTPSVERIFY"}


@dataclass(frozen=True)
class Finding:
    """One place that weakens TLS."""

    path: str
    line: int
    what: str


def _is_false(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value in (False, 0, None, "")


def scan_tls(source: str, path: str) -> list[Finding]:
    """Return every place in ``source`` that disables or weakens TLS verification."""
    found: list[Finding] = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.keyword) and node.arg in _TLS_KEYWORDS and _is_false(node.value):
            found.append(Finding(path, node.value.lineno, f"{node.arg}=False"))
        elif isinstance(node, ast.Attribute) and node.attr in _TLS_NAMES:
            found.append(Finding(path, node.lineno, node.attr))
        elif isinstance(node, ast.Name) and node.id in _TLS_NAMES:
            found.append(Finding(path, node.lineno, node.id))
        elif isinstance(node, ast.Constant) and node.value in _TLS_NAMES:
            found.append(Finding(path, node.lineno, str(node.value)))
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            for target in targets:
                name = target.attr if isinstance(target, ast.Attribute) else None
                if (
                    name in ("check_hostname", "verify_mode")
                    and value is not None
                    and (_is_false(value) or "CERT_NONE" in ast.unparse(value))
                ):
                    found.append(Finding(path, node.lineno, f"{name} = {ast.unparse(value)}"))
        elif isinstance(node, ast.ImportFrom):
            found += [
                Finding(path, node.lineno, a.name) for a in node.names if a.name in _TLS_NAMES
            ]
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if (
                    isinstance(key, ast.Constant)
                    and key.value in _TLS_KEYWORDS
                    and _is_false(value)
                ):
                    found.append(Finding(path, value.lineno, f"{key.value!r}: False"))
    return found


def _modules() -> Iterator[Path]:
    for folder in _CODE_DIRS:
        yield from sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize(
    "snippet",
    [
        "aiohttp.TCPConnector(ssl=False)",
        "session.get(url, verify_ssl=False)",
        "requests.get(url, verify=False)",
        "ctx.check_hostname = False",
        "ctx.verify_mode = ssl.CERT_NONE",
        "ssl._create_unverified_context()",
        "os.environ['PYTHONHTTPSVERIFY'] = '0'",
        "aiohttp.ClientSession(connector_kwargs={'ssl': False})",
        "from ssl import CERT_NONE",
    ],
)
def test_scanner_catches_each_way_of_turning_tls_off(snippet: str):
    """The scanner flags every pattern it claims to look for (so a clean scan means something)."""
    source = f"import aiohttp, os, requests, ssl\n{snippet}\n"

    assert 1 <= len(scan_tls(source, "<snippet>"))


def test_scanner_leaves_verified_tls_alone():
    """Verified TLS and unrelated False keywords are not findings."""
    source = (
        "import ssl, aiohttp\n"
        "ctx = ssl.create_default_context()\n"
        "aiohttp.TCPConnector(ssl=ctx)\n"
        "print('x', flush=False)\n"
        "ctx.check_hostname = True\n"
    )

    assert [] == scan_tls(source, "<snippet>")


def test_no_code_turns_tls_verification_off():
    """Nothing under smartcharge/, strategies/ or docker/ disables TLS verification."""
    modules = list(_modules())
    findings = [
        f
        for path in modules
        for f in scan_tls(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]

    assert len(modules) > 20
    assert [] == findings


def test_no_setting_turns_tls_off():
    """No setting can disable TLS verification (issue 7 allows one only with a loud warning)."""
    from smartcharge.config import Settings

    # The OCPP endpoint's own certificate and key (issue 15) turn TLS on for the charger that
    # connects to us (wss); they are file paths, verify nothing and switch nothing off.
    server_certificate = {"ocpp_cert_file", "ocpp_key_file"}
    names = [
        n
        for n in Settings.model_fields
        if re.search(r"ssl|tls|verify|insecure|cert", n) and n not in server_certificate
    ]

    assert [] == names
    assert all(Settings.model_fields[n].annotation == Path | None for n in server_certificate)


# --- private files ----------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """Run with umask 000, the worst case: modes must not depend on the caller's umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("loose_umask")
def test_state_dir_is_0700_and_files_0600_whatever_the_umask(tmp_path: Path):
    """A new state dir (nested too) is 0700; documents, .bak copies and temp files are 0600."""
    state = tmp_path / "a" / "state"
    path = state / "session.json"
    storage.save_document(path, "session", 1, {"n": 1})
    storage.save_document(path, "session", 1, {"n": 2})

    assert 0o700 == _mode(state)
    assert 0o600 == _mode(path)
    assert 0o600 == _mode(path.with_name("session.json.bak"))
    assert [] == [p for p in state.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.usefixtures("loose_umask")
def test_existing_state_dir_keeps_its_mode(tmp_path: Path):
    """A state dir that exists (mode 0755) is not chmod-ed: smartcharge did not create it."""
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o755)
    storage.save_document(state / "x.json", "x", 1, [])

    assert 0o755 == _mode(state)
    assert 0o600 == _mode(state / "x.json")


@pytest.mark.usefixtures("loose_umask")
def test_loose_existing_file_becomes_0600_on_rewrite(tmp_path: Path):
    """A document someone made world-readable is 0600 again after the next write."""
    path = tmp_path / "state" / "x.json"
    storage.save_document(path, "x", 1, [1])
    path.chmod(0o644)
    storage.save_document(path, "x", 1, [2])

    assert 0o600 == _mode(path)


@pytest.mark.usefixtures("loose_umask")
def test_corrupt_file_moved_aside_stays_private(tmp_path: Path):
    """A corrupt document moved aside keeps mode 0600, and the .bak copy is used."""
    path = tmp_path / "state" / "x.json"
    storage.save_document(path, "x", 1, {"good": 1})
    storage.save_document(path, "x", 1, {"good": 2})
    path.write_text('{"kind": "x", "data": {"good": 3', encoding="utf-8")
    path.chmod(0o600)

    result = storage.load_document(path, "x", datetime(2025, 1, 1, tzinfo=UTC))

    assert {"good": 1} == result.data
    assert result.used_backup
    assert result.moved_to is not None
    assert 0o600 == _mode(result.moved_to)


@pytest.mark.usefixtures("loose_umask")
def test_token_store_file_is_0600(tmp_path: Path):
    """The Wallbox token store is 0600 in a 0700 dir and leaves no backup copy of old tokens."""
    from smartcharge.wallbox.tokens import Tokens, TokenStore

    store = TokenStore(tmp_path / "state", register_secret=register_secret)
    at = datetime(2025, 1, 1, tzinfo=UTC)
    for n in range(2):
        store.save(Tokens(f"access-{n}-abcdef", f"refresh-{n}-abcdef", at, None, "u@example.com"))

    files = sorted(p.name for p in (tmp_path / "state").iterdir() if not p.name.startswith("."))
    assert ["wallbox-tokens.json"] == files
    assert 0o600 == _mode(store.path)
    assert 0o700 == _mode(tmp_path / "state")


# --- the container ----------------------------------------------------------------------------


def _service_block(compose: str, service: str) -> str:
    """Return the lines of one service in a compose file (indentation-based, no YAML parser)."""
    lines = compose.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"^  {service}:\s*$", line))
    block = []
    for line in lines[start + 1 :]:
        if line.strip() and not line.startswith("    ") and not line.lstrip().startswith("#"):
            break
        block.append(line)
    return "\n".join(x for x in block if not x.lstrip().startswith("#"))


def _list_under(block: str, key: str) -> list[str]:
    match = re.search(rf"^    {key}:\s*\n((?:      - .*\n?)+)", block + "\n", re.MULTILINE)
    if not match:
        return []
    return [item.strip()[2:].strip().strip("\"'") for item in match.group(1).splitlines()]


def test_compose_runs_non_root_with_a_read_only_root_fs():
    """compose.yaml: a non-root uid, read_only root fs, writable only at /data and tmpfs /tmp."""
    compose = (ROOT / "docker" / "compose.yaml").read_text(encoding="utf-8")
    block = _service_block(compose, "smartcharge")
    user = re.search(r"^    user:\s*\"?([^\"\s]+)\"?\s*$", block, re.MULTILINE)
    volumes = _list_under(block, "volumes")
    tmpfs = _list_under(block, "tmpfs")

    assert user is not None, "compose must name a user"
    uid = user.group(1).split(":")[0]
    assert uid not in ("0", "root")
    assert re.search(r"^    read_only:\s*true\s*$", block, re.MULTILINE)
    writable = [v.split(":", 1)[1] for v in volumes if not v.endswith(":ro")]
    assert writable == ["/data"]
    assert [v.split(":", 1)[1] for v in volumes if v.endswith(":ro")] == ["/config/.env:ro"]
    assert set(tmpfs) <= {"/tmp", "/run"}
    assert "ALL" in _list_under(block, "cap_drop")
    assert "privileged: true" not in block
    assert "no-new-privileges:true" in block.replace(" ", "")


def test_dockerfile_ends_non_root_and_bakes_in_no_secret():
    """The image's last USER is not root, and no ENV/ARG carries a password, token or key."""
    text = (ROOT / "docker" / "Dockerfile").read_text(encoding="utf-8")
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    env_lines = " ".join(re.findall(r"^(?:ENV|ARG)\s+(.*(?:\\\n.*)*)", text, re.MULTILINE))

    assert users, "the Dockerfile must switch to a non-root USER"
    assert users[-1].split(":")[0] not in ("0", "root")
    assert not re.search(r"PASSWORD|API_KEY|TOKEN|SECRET", env_lines, re.IGNORECASE)


# --- the secret scanner used by the soak, crash and time tests --------------------------------


def test_secret_scanner_finds_secrets_in_logs_and_files_but_not_the_token_store(tmp_path: Path):
    """The scanner flags a secret in a log or a state file, Basic-encoded too; not the store."""
    import base64

    from tests.resilience.secrets import scan_for_secrets

    secret = "sim-access-1-0123456789abcdef"
    basic = base64.b64encode(b"demo.user@example.com:hunter2-pass").decode()
    (tmp_path / "state.json").write_text(f'{{"x": "{secret}"}}', encoding="utf-8")
    (tmp_path / "wallbox-tokens.json").write_text(secret, encoding="utf-8")
    (tmp_path / "wallbox-tokens.json.corrupt-20250101T000000Z").write_text(secret, "utf-8")

    found = scan_for_secrets(
        [secret, "hunter2-pass"], logs=f"Authorization: Basic {basic}", folder=tmp_path
    )

    assert 2 == len(found)
    assert any(f.startswith("log:") for f in found)
    assert any(f.startswith("state.json:") for f in found)
