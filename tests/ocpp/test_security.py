"""HTTP Basic (security profile 1), wss, and no PUK or password in any log line."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from smartcharge.ocpp import OcppCharger, OcppServer
from smartcharge.ocpp.config_keys import ChargerConfig
from smartcharge.ocpp.redact import MASK, redact_text
from tests.ocpp.conftest import CP_ID, WAIT_S, connected

PASSWORD = "s3cret-ws-pass"  # noqa: S105 - the test's own
PUK = "97531864"


@pytest.mark.parametrize(("given", "accepted"), [(None, False), ("wrong", False), (PASSWORD, True)])
async def test_basic_auth_is_required_when_a_password_is_set(
    start_central, make_wallbox, given, accepted
):
    """Without the right password the upgrade is refused with 401, and the password not logged."""
    central = await start_central(password=PASSWORD)
    wallbox = make_wallbox(central.url, password=given)

    with capture_logs() as logs:
        if accepted:
            await connected(central, wallbox)
        else:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await wallbox.connect()
            assert 401 == refused.value.status

    assert accepted == central.charger.is_connected
    assert PASSWORD not in repr(logs)
    assert (not accepted) == any(
        e["event"] == "ocpp_charge_point_refused" and e["reason"] == "bad_credentials" for e in logs
    )


async def test_the_puk_and_the_websocket_password_never_reach_a_log(
    start_central, make_wallbox, caplog
):
    """The GetConfiguration answer carries both; every logged frame shows them masked."""
    central = await start_central(password=PASSWORD)
    wallbox = make_wallbox(central.url, password=PASSWORD, puk=PUK)
    caplog.set_level(logging.DEBUG)

    with capture_logs() as logs:
        await connected(central, wallbox)

    wire = "\n".join(r.getMessage() for r in caplog.records)
    everything = wire + repr(logs) + repr(central.charger.config)
    assert '"key":"PUK"' in wire  # the frame was logged
    assert '"key":"WebSocketPassword"' in wire
    assert MASK in wire
    assert PUK not in everything
    assert PASSWORD not in everything
    assert "PUK" not in central.charger.config.keys


def test_redaction_of_text_that_only_quotes_a_frame():
    """A repr in an error message is masked too."""
    text = "Error while handling {'key': 'WebSocketPassword', 'readonly': False, 'value': 'pw1'}"

    assert "pw1" not in redact_text(text)
    assert "'value': '**redacted**'" in redact_text(text)


def test_secret_keys_are_not_kept_from_the_configuration():
    """ChargerConfig drops secret values and keeps what smartcharge acts on."""
    config = ChargerConfig.from_keys(
        [
            {"key": "PUK", "value": PUK},
            {"key": "ChargingScheduleMaxPeriods", "value": "100"},
            {"key": "AuthorizationKey", "value": "abc"},
        ]
    )

    assert 100 == config.max_periods
    assert ("ChargingScheduleMaxPeriods",) == config.keys


def _user_certificate(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A certificate and key for 127.0.0.1 as a user would supply them, and the CA to trust.

    Made with trustme (a dev dependency), not the openssl command, which a clean machine may lack.
    """
    import trustme

    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1")
    cert, key, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    issued.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    return cert, key, ca_file


async def test_wss_with_a_user_certificate(tmp_path, clock, make_wallbox):
    """With an ssl context the endpoint speaks wss; a charger trusting the cert boots."""
    cert, key, ca_file = _user_certificate(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(ca_file))
    charger = OcppCharger(CP_ID, clock, call_timeout_s=WAIT_S)
    server = OcppServer(charger, ssl_context=server_context)
    port = await server.start("127.0.0.1", 0)
    try:
        wallbox = make_wallbox(f"wss://127.0.0.1:{port}/", ssl_context=client_context)
        await wallbox.connect()
        await charger.settle()
        await wallbox.settle()
        assert 1 == charger.setups_completed
    finally:
        await server.close()


def test_a_late_answer_logged_by_the_ocpp_package_is_masked():
    """'Ignoring response with unknown unique id' logs the CallResult object, not JSON."""
    from ocpp.messages import CallResult

    late = CallResult(
        unique_id="1",
        payload={"configurationKey": [{"key": "PUK", "readonly": False, "value": PUK}]},
    )

    assert PUK not in redact_text(str(late))
    assert MASK in redact_text(str(late))
