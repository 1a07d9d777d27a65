"""The OCPP link's settings (issue 15 item 7): defaults, what check-config refuses, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartcharge.cli import main
from smartcharge.config import ChargerLink, load_settings, readiness_problems
from smartcharge.errors import ConfigError

USER = "me@example.com"
PASSWORD = "wallbox-pa55word"  # noqa: S105 - a test value


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A PEM certificate and its unencrypted key, as a user would supply them (trustme)."""
    import trustme  # noqa: PLC0415 - a dev dependency, only here

    issued = trustme.CA().issue_cert("smartcharge.local")
    cert, key = tmp_path / "ocpp.crt", tmp_path / "ocpp.key"
    cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    issued.private_key_pem.write_to_path(str(key))
    return cert, key


def _problems(monkeypatch: pytest.MonkeyPatch, **values: str) -> list[str]:
    for name, value in values.items():
        monkeypatch.setenv(f"SMARTCHARGE_{name.upper()}", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    return caught.value.problems


def test_defaults_are_the_cloud_link_and_a_loopback_endpoint():
    """Nothing set: the cloud; the OCPP endpoint would be 127.0.0.1:9000 without a password."""
    settings = load_settings()

    assert ChargerLink.CLOUD == settings.charger_link
    assert "127.0.0.1" == settings.ocpp_host
    assert 9000 == settings.ocpp_port
    assert settings.ocpp_charge_point_id is None
    assert settings.ocpp_password is None
    assert settings.ocpp_cert_file is None
    assert settings.ocpp_key_file is None


def test_a_complete_ocpp_configuration_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Every OCPP setting from a .env file: read, the password kept secret."""
    cert, key = _certificate(tmp_path)
    env = tmp_path / ".env"
    env.write_text(
        "SMARTCHARGE_CHARGER_LINK=OCPP\n"
        "SMARTCHARGE_OCPP_HOST=0.0.0.0\n"
        "SMARTCHARGE_OCPP_PORT=8887\n"
        "SMARTCHARGE_OCPP_CHARGE_POINT_ID=WB123456\n"
        "SMARTCHARGE_OCPP_PASSWORD=ocpp-pa55word-0123\n"
        f"SMARTCHARGE_OCPP_CERT_FILE={cert}\n"
        f"SMARTCHARGE_OCPP_KEY_FILE={key}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SMARTCHARGE_ENV_FILE", str(env))

    settings = load_settings()

    assert ChargerLink.OCPP == settings.charger_link
    assert "0.0.0.0" == settings.ocpp_host  # noqa: S104 - the value under test
    assert 8887 == settings.ocpp_port
    assert "WB123456" == settings.ocpp_charge_point_id
    assert settings.ocpp_password is not None
    assert "ocpp-pa55word-0123" == settings.ocpp_password.get_secret_value()
    assert "ocpp-pa55word-0123" not in repr(settings)
    assert "**********" == settings.masked()["SMARTCHARGE_OCPP_PASSWORD"]
    assert (cert, key) == (settings.ocpp_cert_file, settings.ocpp_key_file)


def test_ocpp_without_a_charge_point_id_is_refused(monkeypatch: pytest.MonkeyPatch):
    """The one thing the link cannot do without: named, with what is accepted."""
    problems = _problems(monkeypatch, charger_link="ocpp")

    assert [
        "SMARTCHARGE_CHARGER_LINK='ocpp' (from the environment): needs "
        "SMARTCHARGE_OCPP_CHARGE_POINT_ID: expected the Charge Point Identity entered in the "
        "Wallbox app, e.g. WB123456"
    ] == problems


def test_a_bad_charge_point_id_with_ocpp_is_reported_once(monkeypatch: pytest.MonkeyPatch):
    """The id's own problem, not a second line saying the link lacks one."""
    problems = _problems(monkeypatch, charger_link="ocpp", ocpp_charge_point_id="WB 1")

    assert 1 == len(problems)
    assert problems[0].startswith("SMARTCHARGE_OCPP_CHARGE_POINT_ID='WB 1' (from the environment)")


def test_an_unknown_link_is_refused(monkeypatch: pytest.MonkeyPatch):
    """A link that does not exist: the two that do are named."""
    [problem] = _problems(monkeypatch, charger_link="local")

    assert problem.startswith("SMARTCHARGE_CHARGER_LINK='local' (from the environment): ")
    assert "'cloud' or 'ocpp'" in problem


@pytest.mark.parametrize("port", ["0", "65536", "-1", "80000"])
def test_a_port_out_of_range_is_refused(monkeypatch: pytest.MonkeyPatch, port: str):
    """Ports 1 to 65535 only; the line names the variable, the value and the range."""
    problems = _problems(monkeypatch, ocpp_port=port)

    assert [
        f"SMARTCHARGE_OCPP_PORT='{port}' (from the environment): expected a TCP port from 1 to "
        "65535, e.g. 9000"
    ] == problems


def test_a_port_that_is_no_number_is_refused(monkeypatch: pytest.MonkeyPatch):
    """Text where a port belongs: a whole number is asked for."""
    [problem] = _problems(monkeypatch, ocpp_port="ninethousand")

    assert problem.startswith("SMARTCHARGE_OCPP_PORT='ninethousand' (from the environment): ")
    assert "expected a whole number" in problem


@pytest.mark.parametrize("host", ["http://192.168.1.5", "my host", "10.0.0.1:9000", "a/b"])
def test_a_host_that_is_no_address_is_refused(monkeypatch: pytest.MonkeyPatch, host: str):
    """A URL, a port or a space where an address belongs: refused with examples."""
    [problem] = _problems(monkeypatch, ocpp_host=host)

    assert problem.startswith("SMARTCHARGE_OCPP_HOST=")
    assert "e.g. 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)" in problem


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "::1", "nas.local", "localhost"])
def test_addresses_and_host_names_are_accepted(monkeypatch: pytest.MonkeyPatch, host: str):
    """IPv4, IPv6 and host names."""
    monkeypatch.setenv("SMARTCHARGE_OCPP_HOST", host)

    assert host == load_settings().ocpp_host


@pytest.mark.parametrize("ident", ["WB 123", "a/b", "x" * 49, "wb#1"])
def test_a_charge_point_id_that_cannot_be_a_url_segment_is_refused(
    monkeypatch: pytest.MonkeyPatch, ident: str
):
    """The charger appends its identity to the URL: spaces, slashes and # cannot be in it."""
    [problem] = _problems(monkeypatch, ocpp_charge_point_id=ident)

    assert problem.startswith("SMARTCHARGE_OCPP_CHARGE_POINT_ID=")
    assert "1 to 48 letters, digits" in problem


def test_a_certificate_without_its_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """wss needs both files: the line names the one that is missing."""
    cert, _ = _certificate(tmp_path)

    problems = _problems(monkeypatch, ocpp_cert_file=str(cert))

    assert [
        "SMARTCHARGE_OCPP_CERT_FILE is set but SMARTCHARGE_OCPP_KEY_FILE is not: wss needs "
        "both, the certificate and its private key (or neither, for plain ws)"
    ] == problems


def test_a_key_without_its_certificate_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """And the reverse."""
    _, key = _certificate(tmp_path)

    problems = _problems(monkeypatch, ocpp_key_file=str(key))

    assert [
        "SMARTCHARGE_OCPP_KEY_FILE is set but SMARTCHARGE_OCPP_CERT_FILE is not: wss needs "
        "both, the certificate and its private key (or neither, for plain ws)"
    ] == problems


def test_a_missing_certificate_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A path that leads nowhere: the variable and the path."""
    _, key = _certificate(tmp_path)
    missing = tmp_path / "nope.crt"

    [problem] = _problems(monkeypatch, ocpp_cert_file=str(missing), ocpp_key_file=str(key))

    assert problem.startswith("SMARTCHARGE_OCPP_CERT_FILE='")
    assert problem.endswith(
        " (from the environment): no such file; expected a PEM certificate file"
    )


def test_a_key_that_is_not_the_certificates_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The key of another certificate: said plainly, both variables named."""
    cert, _ = _certificate(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, key = _certificate(other)

    [problem] = _problems(monkeypatch, ocpp_cert_file=str(cert), ocpp_key_file=str(key))

    assert problem.startswith("SMARTCHARGE_OCPP_CERT_FILE and SMARTCHARGE_OCPP_KEY_FILE: ")
    assert "the key does not belong to the certificate" in problem


def test_files_that_are_not_pem_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Two files with anything else in them: what is expected is said."""
    cert, key = tmp_path / "a.crt", tmp_path / "a.key"
    cert.write_text("hello\n", encoding="utf-8")
    key.write_text("world\n", encoding="utf-8")

    [problem] = _problems(monkeypatch, ocpp_cert_file=str(cert), ocpp_key_file=str(key))

    assert problem.startswith("SMARTCHARGE_OCPP_CERT_FILE and SMARTCHARGE_OCPP_KEY_FILE: ")
    assert "expected a PEM certificate and its unencrypted PEM private key" in problem


def test_check_config_does_not_ask_for_the_account_with_ocpp(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """With the ocpp link the Wallbox account is optional: run accepts the settings (the
    daemon drives the charger over OCPP, README "Local control (OCPP)").
    """
    monkeypatch.setenv("SMARTCHARGE_CHARGER_LINK", "ocpp")
    monkeypatch.setenv("SMARTCHARGE_OCPP_CHARGE_POINT_ID", "WB123456")

    status = main(["check-config"])
    err = capsys.readouterr().err

    assert 0 == status, err
    assert "SMARTCHARGE_WALLBOX_USERNAME" not in err
    assert "SMARTCHARGE_WALLBOX_PASSWORD" not in err
    assert "run would refuse" not in err
    assert [] == readiness_problems(load_settings())


def test_the_cloud_link_still_asks_for_the_account(monkeypatch: pytest.MonkeyPatch):
    """Unchanged for the default link: the account is needed."""
    monkeypatch.setenv("SMARTCHARGE_OCPP_CHARGE_POINT_ID", "WB123456")

    problems = readiness_problems(load_settings())

    assert 2 == len(problems)
    assert problems[0].startswith("SMARTCHARGE_WALLBOX_USERNAME is not set")


def test_check_config_masks_the_ocpp_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """The OCPP password is shown masked, never as itself, also when another value is bad."""
    monkeypatch.setenv("SMARTCHARGE_WALLBOX_USERNAME", USER)
    monkeypatch.setenv("SMARTCHARGE_WALLBOX_PASSWORD", PASSWORD)
    monkeypatch.setenv("SMARTCHARGE_OCPP_PASSWORD", "ocpp-pa55word-0123")

    ok = main(["check-config"])
    shown = capsys.readouterr()
    monkeypatch.setenv("SMARTCHARGE_OCPP_PORT", "0")
    bad = main(["check-config"])
    refused = capsys.readouterr()

    assert 0 == ok
    assert "SMARTCHARGE_OCPP_PASSWORD" in shown.out
    assert "ocpp-pa55word-0123" not in shown.out + shown.err
    assert 2 == bad
    assert "ocpp-pa55word-0123" not in refused.out + refused.err
