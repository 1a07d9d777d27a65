"""Bad ``.env`` input through ``smartcharge check-config``: exit 2, one line per culprit.

Every setting is tried with a catalogue of bad values by kind (wrong type, a unit typed after
the number, out of range, huge, look-alike unicode) from the environment and from a ``.env``
file at a random line; then Hypothesis mixes bad, good and random values of many settings in
one file and checks that every value that is bad on its own is reported, with its file and
line, and nothing else. Unknown ``SMARTCHARGE_`` names are warned with the nearest valid name.

The counts of inputs tried by kind are printed at the end of the module (``[figures]``).
"""

from __future__ import annotations

import collections
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartcharge.config import PREFIX, Settings, load_settings, setting_names
from smartcharge.errors import ConfigError
from tests.resilience.cli import CliResult, run_cli, scoped_environ
from tests.resilience.report import write_figures

# Inputs tried, by kind; printed by test_zz_report_bad_inputs_tried.
BAD_INPUTS: collections.Counter[str] = collections.Counter()

_FREE_TEXT = {
    "wallbox_username",
    "wallbox_password",
    "entsoe_api_key",
    "state_dir",
    "strategy",
    "strategy_path",  # a folder: any text but NUL is a path
    "wallbox_budget_dir",  # a folder, like state_dir
    "ocpp_password",
}
GOOD_TOKEN = "good-token-of-32-characters-0123"
_SECRETS = {"wallbox_password", "entsoe_api_key", "ocpp_password", "api_token"}
_UNITS = {
    "_a": "A",
    "_s": "s",
    "_min": "min",
    "_kwh": "kWh",
    "_percent": "%",
    "_v": "V",
    "_minute": "/min",
    "_hour": "/h",
    "_interruptions": "x",
    "_deviation": "%",
    "_id": "id",
    "_port": "/tcp",
}
# The unit a setting is in, as people type it after the number: read, with a warning (the
# setting's own unit only). For those settings the "unit" catalogue uses another unit instead.
_OWN_UNITS = {
    "_eur_kwh": ("EUR", "ct"),
    "_kwh": ("kWh", "kW"),
    "_percent": ("%", "x"),
    "_a": ("A", "W"),
    "_v": ("V", "kV"),
    "_s": ("s", "ms"),
    "_min": ("min", "h"),
}
# Text a user cannot tell from a number or a word, and oversized numbers.
_UNICODE_NUMBERS = ["１６", "٣", "16\u200b", "⑯", "1６A", "\u221216"]
_HUGE = ["1e400", "9" * 400, "-" + "9" * 400]
_LEAKS = ("Traceback", "pydantic", "errors.pydantic.dev", "ValidationError", "validation error")


def _bounds(name: str) -> tuple[float | None, float | None, bool]:
    """Return (lower, upper, lower_is_strict) from the field's constraints."""
    low: float | None = None
    high: float | None = None
    strict = False
    for meta in Settings.model_fields[name].metadata:
        if getattr(meta, "ge", None) is not None:
            low = meta.ge
        if getattr(meta, "gt", None) is not None:
            low, strict = meta.gt, True
        if getattr(meta, "le", None) is not None:
            high = meta.le
    return low, high, strict


def _unit(name: str) -> str:
    for suffix, unit in _UNITS.items():
        if name.endswith(suffix):
            return unit
    return "x"


def _own_unit(name: str) -> tuple[str, str] | None:
    """Return (the setting's own unit, another unit), None for a setting without a unit."""
    return next((units for suffix, units in _OWN_UNITS.items() if name.endswith(suffix)), None)


def _wrong_unit(name: str) -> str:
    """Return a unit that is not the setting's own."""
    units = _own_unit(name)
    unit = _unit(name)
    return units[1] if units is not None and unit.lower() == units[0].lower() else unit


def bad_values(name: str) -> dict[str, list[str]]:
    """Return values that must be refused for setting ``name``, by kind."""
    field = Settings.model_fields[name]
    ann = field.annotation
    default = field.default
    if name in _FREE_TEXT:
        return {}
    if ann in (int, float, int | None, float | None):
        decimal = ann in (float, float | None)
        low, high, strict = _bounds(name)
        base = str(default if default is not None else 16)
        out_of_range = ["-1e9"]
        if low is not None:
            out_of_range.append(str(low if strict else low - 1))
        if high is not None:
            out_of_range.append(str(high + 1))
            out_of_range.append("inf")
        if decimal:
            out_of_range.append("nan")
        # A decimal comma is read for a decimal setting (test_own_unit_and_decimal_comma_...).
        comma = "1,5" if not decimal else "1,234.5"
        wrong = _wrong_unit(name)
        return {
            "wrong_type": ["abc", "true", "[16]", "{}", comma, "0x10", "1.2.3"],
            "unit": [f"{base}{wrong}", f"{base} {wrong}", "7h", "16A" if wrong != "W" else "16W"],
            "out_of_range": out_of_range,
            "huge": _HUGE if not decimal else ["-1e400", "1e400"],
            "unicode": _UNICODE_NUMBERS,
        }
    if ann is bool:
        return {
            "wrong_type": ["2", "truee", "yes please", "[]", "0.5"],
            "unit": ["1s", "true!"],
            "out_of_range": ["-1"],
            "huge": ["9" * 400],
            "unicode": ["ｔｒｕｅ", "tru\u0435", "✓"],
        }
    if name in ("log_format", "log_level", "manual_override", "on_exit", "charger_link"):
        return {
            "wrong_type": ["1", "[]", "none"],
            "unit": [f"{default}s", f"{default}!"],
            "unicode": [f"{default}"[:-1] + "\u0435", "ｊｓｏｎ", "\u202ejson"],
        }
    table: dict[str, dict[str, list[str]]] = {
        "phases": {
            "wrong_type": ["three", "[3]", "3.5"],
            "unit": ["3ph", "3 phases", "1P"],
            "out_of_range": ["0", "2", "4", "-3"],
            "huge": _HUGE,
            "unicode": ["３", "١", "Ⅲ"],
        },
        "ready_by": {
            "wrong_type": ["noon", "07.00", "0700", "7", "[7,0]"],
            "unit": ["7h", "07:00h", "7am", "07:00:00"],
            "out_of_range": ["25:00", "07:60", "-1:00", "24:00"],
            "huge": ["99999999999:00"],
            "unicode": ["７h", "１９:99", "07\u200b:00"],
        },
        "timezone": {
            "wrong_type": ["Mars/Olympus", "CET+25", "123"],
            "unit": ["UTC+1h"],
            "out_of_range": ["../../etc/passwd", "/etc/localtime"],
            "unicode": ["Europe/Ämsterdam", "UTC\u200b"],
        },
        "bidding_zone": {
            "wrong_type": ["XX", "Netherlands", "10YNL----------L", "NL,BE"],
            "unit": ["NL-zone"],
            "unicode": ["ＮＬ", "N\u0406"],
        },
        "price_sources": {
            "wrong_type": ["tibber", "entsoe;energyzero", "ENTSOE", ","],
            "out_of_range": ["entsoe:XX", "energyzero:NL"],
            "unicode": ["entsoe:ＮＬ", "еntsoe"],
        },
        "max_price": {
            "wrong_type": ["cheap", "0,18", "p", "pp30", "nan"],
            "unit": ["0.18EUR", "18ct", "30%"],
            "out_of_range": ["p101", "p-5", "6", "-6"],
            "huge": ["1e400", "9" * 400],
            "unicode": ["p３0x", "０.18€"],
        },
        "ocpp_host": {
            "wrong_type": ["http://192.168.1.5", "a b", "a/b", "-bad-"],
            "unit": ["127.0.0.1:9000", "0.0.0.0/24"],
            "huge": ["a" * 300],
            "unicode": ["１２７.0.0.1", "h\u043est", "host\u200b"],
        },
        "http_host": {
            "wrong_type": ["http://192.168.1.5", "a b", "a/b", "-bad-"],
            "unit": ["127.0.0.1:8765", "0.0.0.0/24"],
            "huge": ["a" * 300],
            "unicode": ["１２７.0.0.1", "h\u043est", "host\u200b"],
        },
        "api_token": {
            "out_of_range": ["short", "x" * 15],
            "wrong_type": ["with a space in the middle"],
            "unicode": ["token\u200btoken-token-token", "token\ttoken-token-token"],
        },
        "ocpp_charge_point_id": {
            "wrong_type": ["WB 1", "a/b", "a?b", "a%2Fb"],
            "huge": ["x" * 49, "9" * 400],
            "unicode": ["WB１", "W\u0412", "WB\u200b"],
        },
    }
    # A certificate or key file that is not there, or a folder (an existing file alone is the
    # cross-check of the pair, test_config_ocpp.py).
    for path_setting in ("ocpp_cert_file", "ocpp_key_file"):
        table[path_setting] = {
            "wrong_type": ["/nonexistent/ocpp.pem", "./no-such.pem"],
            "out_of_range": ["/", "."],
            "unicode": ["/nonexistent/ｏｃｐｐ.pem"],
        }
    if name in table:
        return table[name]
    if name.endswith("_url"):
        return {
            "wrong_type": ["api.wall-box.com", "ftp://x", "https://", "//x", "https:/x"],
            "unit": ["https://x:443 /api"],
            "unicode": ["ｈｔｔｐｓ://x", "https://a\u2028b", "https://a b"],
        }
    raise AssertionError(f"no bad-value catalogue for {name}; add one")


def _accepted(result: CliResult) -> bool:
    """Return whether every value was accepted: exit 0, or exit 1 with only the lines saying
    what `smartcharge run` would refuse (these configurations have no Wallbox account)."""
    refusals = [p for p in result.problems if p.startswith("smartcharge: run would refuse: ")]
    if result.status == 0:
        return not result.problems
    return result.status == 1 and bool(refusals) and refusals == result.problems


def _assert_no_leak(result: CliResult) -> None:
    for marker in _LEAKS:
        assert marker not in result.err, result.err
        assert marker not in result.out, result.out


def _names() -> list[str]:
    return [n for n in Settings.model_fields if n not in _FREE_TEXT]


@pytest.mark.parametrize("name", _names())
def test_every_bad_value_of_every_setting_exits_2_naming_the_variable(name: str, tmp_path: Path):
    """Each bad value, from the environment or from a .env line, gives exit 2 and one line."""
    var = PREFIX + name.upper()
    rng = random.Random(name)
    tried = 0
    for kind, values in bad_values(name).items():
        for value in values:
            # From the environment.
            with scoped_environ({var: value}):
                result = run_cli(["check-config"])
            assert 2 == result.status, (var, value, result.err)
            assert 1 == len(result.problems), (var, value, result.err)
            assert result.problems[0].startswith(f"smartcharge: {var}="), result.err
            assert "(from the environment)" in result.problems[0]
            _assert_no_leak(result)
            # From a .env file, at a random line among comments and good settings.
            env = tmp_path / f"{rng.randrange(10**6)}.env"
            before = rng.randrange(0, 6)
            filler = ["# my charger", "", "SMARTCHARGE_LOG_FORMAT=console", "  # indented"]
            lines = [rng.choice(filler) for _ in range(before)] + [f"{var}={value}"]
            env.write_text("\n".join(lines) + "\n", encoding="utf-8")
            with scoped_environ({"SMARTCHARGE_ENV_FILE": str(env)}):
                result = run_cli(["check-config"])
            assert 2 == result.status, (var, value, result.err)
            assert 1 == len(result.problems), (var, value, result.err)
            assert result.problems[0].startswith(f"smartcharge: {var}="), result.err
            assert f"({env}:{before + 1})" in result.problems[0], result.err
            _assert_no_leak(result)
            BAD_INPUTS[f"env:{kind}"] += 2
            tried += 1

    assert tried >= 3


def _slips(name: str) -> list[str]:
    """Return values of number setting ``name`` that are read with a warning, not refused."""
    field = Settings.model_fields[name]
    if field.annotation not in (int, float):
        return []
    base = str(field.default)
    units = _own_unit(name)
    out = [f"{base}{units[0]}", f"{base} {units[0]}"] if units else []
    if field.annotation is float:
        out.append(base.replace(".", ","))
    return out


@pytest.mark.parametrize("name", [n for n in _names() if _slips(n)])
def test_own_unit_and_decimal_comma_are_read_with_a_warning(name: str, tmp_path: Path):
    """The setting's own unit after the number, or a decimal comma: read as the plain number,
    with one warning naming the variable and where it came from; any other unit is refused."""
    var = PREFIX + name.upper()
    default = Settings.model_fields[name].default
    for value in _slips(name):
        with scoped_environ({var: value}):
            from_env = run_cli(["check-config"])
            read = getattr(load_settings(), name)
        env = tmp_path / ".env"
        env.write_text(f"# mine\n{var}={value}\n", encoding="utf-8")
        with scoped_environ({"SMARTCHARGE_ENV_FILE": str(env)}):
            from_file = run_cli(["check-config"])
        BAD_INPUTS["env:slip_read"] += 2

        assert default == read, value
        assert _accepted(from_env), (value, from_env.err)
        assert [f"smartcharge: warning: {var}={value} (from the environment): read as "] == [
            w[: w.index("read as ") + 8] for w in from_env.warnings
        ]
        assert _accepted(from_file), (value, from_file.err)
        assert 1 == len(from_file.warnings), from_file.err
        assert from_file.warnings[0].startswith(f"smartcharge: warning: {var}={value} ({env}:2): ")
        assert "read as" in from_file.warnings[0]


@pytest.mark.parametrize("name", sorted(_SECRETS))
def test_secret_settings_never_echo_their_value(name: str, tmp_path: Path):
    """A secret's value never appears in check-config's output, good config or bad."""
    var = PREFIX + name.upper()
    secret = "s3cret-Value-7f2a9c"
    env = tmp_path / ".env"
    env.write_text(f"{var}={secret}\nSMARTCHARGE_PHASES=2\n", encoding="utf-8")
    with scoped_environ({"SMARTCHARGE_ENV_FILE": str(env)}):
        bad = run_cli(["check-config"])
    with scoped_environ({var: secret}):
        good = run_cli(["check-config"])

    assert 2 == bad.status
    assert _accepted(good), good.err
    assert secret not in bad.out + bad.err
    assert secret not in good.out + good.err
    assert f"{var}" in good.out


# --- Hypothesis: many settings at once -------------------------------------------------------

_TEXT = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc", "Zl", "Zp"),
        blacklist_characters="\"'`\\#$",
    ),
    max_size=30,
)


@st.composite
def _assignments(draw: st.DrawFn) -> dict[str, tuple[str, str]]:
    """Draw ``{setting: (value, kind)}`` for a few settings."""
    chosen = draw(st.lists(st.sampled_from(list(Settings.model_fields)), max_size=7, unique=True))
    out: dict[str, tuple[str, str]] = {}
    for name in chosen:
        catalogue = bad_values(name)
        options = [(v, k) for k, vs in catalogue.items() for v in vs]
        default = Settings.model_fields[name].default
        good = (
            "" if default is None or name in _SECRETS else str(getattr(default, "value", default))
        )
        if name == "ready_by":
            good = "06:45"
        if name == "price_sources":
            good = "entsoe,energyzero"
        choice = draw(st.integers(0, 2))
        if choice == 0 and options:
            out[name] = draw(st.sampled_from(options))
        elif choice == 1:
            out[name] = (good, "good")
        else:
            out[name] = (draw(_TEXT).strip(), "random")
    if "http_host" in out:
        # An address beyond loopback needs the token (a cross-check of two values, like the
        # currents'): with the address drawn, the token is a good one, so each value alone
        # decides (the oracle judges the address with the same token).
        out["api_token"] = (GOOD_TOKEN, "good")
    return out


def _typo(name: str, rng: random.Random) -> str:
    """Return ``name`` with one small slip in its suffix."""
    body = name.removeprefix(PREFIX)
    i = rng.randrange(len(body))
    slip = rng.choice(("drop", "double", "swap"))
    if slip == "drop":
        body = body[:i] + body[i + 1 :]
    elif slip == "double":
        body = body[:i] + body[i] + body[i:]
    elif i + 1 < len(body):
        body = body[:i] + body[i + 1] + body[i] + body[i + 2 :]
    return PREFIX + body


def _alone_is_bad(var: str, value: str, directory: Path) -> bool:
    """The oracle: does ``value`` fail when it is the only setting (same .env syntax)?"""
    env = directory / "alone.env"
    token = f"SMARTCHARGE_API_TOKEN={GOOD_TOKEN}\n" if var == "SMARTCHARGE_HTTP_HOST" else ""
    env.write_text(f"{var}={value}\n{token}", encoding="utf-8")
    with scoped_environ({"SMARTCHARGE_ENV_FILE": str(env)}):
        try:
            load_settings()
        except ConfigError:
            return True
    return False


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(assignments=_assignments(), seed=st.integers(0, 2**16), typos=st.integers(0, 2))
def test_mixed_env_file_reports_every_bad_value_once_with_its_line(
    assignments: dict[str, tuple[str, str]], seed: int, typos: int
):
    """Every value that is bad on its own is reported once with file:line; nothing is lost."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        lines: list[str] = []
        line_of: dict[str, int] = {}
        for name, (value, _kind) in assignments.items():
            if rng.random() < 0.3:
                lines.append("# comment")
            var = PREFIX + name.upper()
            lines.append(f"{var}={value}")
            line_of[var] = len(lines)
        typo_names: list[str] = []
        valid = set(setting_names())
        for _ in range(typos):
            typo = _typo(rng.choice(sorted(valid)), rng)
            if typo not in valid and typo not in typo_names:
                lines.append(f"{typo}=1")
                typo_names.append(typo)
        env = directory / ".env"
        env.write_text("\n".join(lines) + "\n", encoding="utf-8")
        expected_bad = {
            PREFIX + name.upper()
            for name, (value, _kind) in assignments.items()
            if _alone_is_bad(PREFIX + name.upper(), value, directory)
        }
        with scoped_environ({"SMARTCHARGE_ENV_FILE": str(env)}):
            result = run_cli(["check-config"])
    for _name, (_value, kind) in assignments.items():
        BAD_INPUTS[f"mixed:{kind}"] += 1
    BAD_INPUTS["mixed:unknown_name"] += len(typo_names)

    _assert_no_leak(result)
    reported = {
        line.removeprefix("smartcharge: ").split("=", 1)[0]
        for line in result.problems
        if "=" in line.split(" ", 2)[1]
    }
    assert expected_bad == reported, result.err
    for var in expected_bad:
        line = next(x for x in result.problems if x.startswith(f"smartcharge: {var}="))
        assert f"({env}:{line_of[var]})" in line
    if expected_bad:
        assert 2 == result.status
        assert len(expected_bad) == len(result.problems), result.err
    elif result.status == 2:
        # Only the cross-check of two good values can fail without a bad value.
        assert 1 == len(result.problems)
        assert "SMARTCHARGE_MIN_CURRENT_A" in result.problems[0]
        assert "SMARTCHARGE_MAX_CURRENT_A" in result.problems[0]
    else:
        assert _accepted(result), result.err
        for typo in typo_names:
            warning = next(w for w in result.warnings if f" {typo} " in w)
            assert "not a smartcharge setting" in warning


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("SMARTCHARGE_PHASSE", "SMARTCHARGE_PHASES"),
        ("SMARTCHARGE_TARGET_KHW", "SMARTCHARGE_TARGET_KWH"),
        ("SMARTCHARGE_READYBY", "SMARTCHARGE_READY_BY"),
        ("SMARTCHARGE_WALLBOX_PASWORD", "SMARTCHARGE_WALLBOX_PASSWORD"),
        ("SMARTCHARGE_MAX_CURENT_A", "SMARTCHARGE_MAX_CURRENT_A"),
        ("SMARTCHARGE_ENTSOE_APIKEY", "SMARTCHARGE_ENTSOE_API_KEY"),
    ],
)
def test_unknown_names_are_warned_with_the_nearest_valid_name(
    typo: str, meant: str, tmp_path: Path
):
    """A misspelt name in .env or the environment is warned, with file:line and a suggestion."""
    env = tmp_path / ".env"
    env.write_text(f"# x\n{typo}=7\n", encoding="utf-8")
    with scoped_environ({"SMARTCHARGE_ENV_FILE": str(env)}):
        from_file = run_cli(["check-config"])
    with scoped_environ({typo: "7"}):
        from_env = run_cli(["check-config"])
    BAD_INPUTS["env:unknown_name"] += 2

    assert _accepted(from_file), from_file.err
    assert 1 == len(from_file.warnings)
    assert f"{typo} ({env}:2)" in from_file.warnings[0]
    assert f"did you mean {meant}?" in from_file.warnings[0]
    assert _accepted(from_env), from_env.err
    assert f"did you mean {meant}?" in from_env.warnings[0]


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (b"\xef\xbb\xbfSMARTCHARGE_PHASES=2\n", 1),  # a BOM, as Notepad writes it
        (b"SMARTCHARGE_WALLBOX_USERNAME=a\xe2\x80\xa8b\nSMARTCHARGE_PHASES=2\n", 2),  # U+2028
        (b"SMARTCHARGE_WALLBOX_USERNAME=a\x0cb\nSMARTCHARGE_PHASES=2\n", 2),  # form feed
        (b"SMARTCHARGE_LOG_FORMAT=json\r\nSMARTCHARGE_PHASES=2\r\n", 2),  # Windows line ends
        (b"export SMARTCHARGE_PHASES=2\n", 1),
        (b"smartcharge_phases = 2   # lower case, spaces, comment\n", 1),
    ],
)
def test_env_file_oddities_keep_the_right_line_number(content: bytes, line: int, tmp_path: Path):
    """BOMs, odd line breaks inside values and lower-case names still point at the right line."""
    env = tmp_path / ".env"
    env.write_bytes(content)
    with scoped_environ({"SMARTCHARGE_ENV_FILE": str(env)}):
        result = run_cli(["check-config"])
    BAD_INPUTS["env:file_syntax"] += 1

    assert 2 == result.status
    assert [f"smartcharge: SMARTCHARGE_PHASES='2' ({env}:{line}): expected one of 1 or 3"] == [
        result.problems[0]
    ]


def test_env_file_not_utf8_is_a_readable_error(tmp_path: Path):
    """A .env saved as Latin-1 gives one line naming the file, exit 2, no traceback."""
    env = tmp_path / ".env"
    env.write_bytes(b"SMARTCHARGE_WALLBOX_USERNAME=J\xf6rg\n")
    with scoped_environ({"SMARTCHARGE_ENV_FILE": str(env)}):
        result = run_cli(["check-config"])
    BAD_INPUTS["env:file_syntax"] += 1

    assert 2 == result.status
    assert [
        f"smartcharge: {env}: cannot read the .env file (not UTF-8 text); save it as UTF-8"
    ] == (result.problems)


@pytest.mark.parametrize("value", ["1", "3", " 3 "])
def test_phases_accepts_one_and_three_as_text(value: str):
    """SMARTCHARGE_PHASES=1 and =3 load (regression: the Literal refused every text value)."""
    with scoped_environ({"SMARTCHARGE_PHASES": value}):
        result = run_cli(["check-config"])

    assert _accepted(result), result.err
    assert f"SMARTCHARGE_PHASES = {value.strip()}" in " ".join(result.out.split())


def test_empty_values_mean_the_default():
    """An empty value is 'not set' for every setting: check-config accepts it (exit 0)."""
    values = {PREFIX + n.upper(): "" for n in Settings.model_fields}
    with scoped_environ(values):
        result = run_cli(["check-config"])
    BAD_INPUTS["env:empty"] += len(values)

    assert _accepted(result), result.err
    assert "SMARTCHARGE_TARGET_KWH" in result.out


@pytest.fixture(autouse=True, scope="module")
def _report_bad_inputs(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print the inputs tried by kind once the module has run."""
    yield
    counts = dict(sorted(BAD_INPUTS.items()))
    write_figures(request, "config bad inputs tried", {**counts, "total": sum(counts.values())})


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_nan_and_infinity_are_refused_as_not_finite(value: str):
    """NaN or infinity for a number says 'a finite number', not a misleading bound."""
    with scoped_environ({"SMARTCHARGE_TARIFF_VAT_PERCENT": value}):
        result = run_cli(["check-config"])
    BAD_INPUTS["env:special_float"] += 1

    assert 2 == result.status
    assert result.problems[0].endswith("expected a finite number"), result.err


def test_typo_warnings_are_shown_alongside_bad_values(tmp_path: Path):
    """A misspelt name and a bad value: both reported in one run, nothing lost."""
    env = tmp_path / ".env"
    env.write_text("SMARTCHARGE_PHASSE=3\nSMARTCHARGE_TARGET_KWH=abc\n", encoding="utf-8")
    with scoped_environ({"SMARTCHARGE_ENV_FILE": str(env)}):
        result = run_cli(["check-config"])

    assert 2 == result.status
    assert any("SMARTCHARGE_PHASSE" in w for w in result.warnings), result.err


def test_check_config_refuses_an_unknown_strategy():
    """SMARTCHARGE_STRATEGY=cheepest is refused by check-config with the valid names."""
    with scoped_environ({"SMARTCHARGE_STRATEGY": "cheepest"}):
        result = run_cli(["check-config"])

    assert 2 == result.status
    assert "cheapest" in result.err
