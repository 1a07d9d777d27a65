"""The charger port's declared capabilities: what a link carries, and the refusal before sending."""

from __future__ import annotations

import pytest

from smartcharge.domain import Command, CommandKind
from smartcharge.errors import UnsupportedCommandError
from smartcharge.ocpp import UnsupportedCommandError as OcppUnsupportedCommandError
from smartcharge.ports import BASIC_COMMANDS, ChargerCapabilities

NOTHING_EXTRA = ChargerCapabilities(
    energy_cost=False, restart=False, lock=False, min_read_interval_s=10.0
)


def test_every_link_carries_enable_disable_and_current():
    """Resume, pause and the current need no declaration; nothing else comes without one."""
    assert {
        CommandKind.RESUME,
        CommandKind.PAUSE,
        CommandKind.SET_MAX_CURRENT,
    } == NOTHING_EXTRA.commands
    assert BASIC_COMMANDS == NOTHING_EXTRA.commands


@pytest.mark.parametrize(
    ("declared", "kinds"),
    [
        ({"energy_cost": True}, {CommandKind.SET_ENERGY_COST}),
        ({"restart": True}, {CommandKind.RESTART}),
        ({"lock": True}, {CommandKind.LOCK, CommandKind.UNLOCK}),
    ],
)
def test_each_capability_adds_its_commands(declared: dict[str, bool], kinds: set[CommandKind]):
    """A declared capability adds exactly its own command kinds."""
    capabilities = ChargerCapabilities(
        **{"energy_cost": False, "restart": False, "lock": False, **declared},
        min_read_interval_s=60.0,
    )

    assert BASIC_COMMANDS | kinds == capabilities.commands
    assert all(capabilities.supports(kind) for kind in kinds)


def test_an_unsupported_command_is_refused_naming_it_the_link_and_what_it_carries():
    """The refusal says which command, over which link, and what the link does carry."""
    with pytest.raises(UnsupportedCommandError) as caught:
        NOTHING_EXTRA.check(Command(CommandKind.SET_ENERGY_COST, 0.25), "OCPP 1.6")

    assert (
        "set_energy_cost(0.25) cannot be sent to a charger over OCPP 1.6; it carries pause, "
        "resume, set_max_current"
    ) == str(caught.value)


def test_a_supported_command_passes_and_an_adapter_picks_its_own_error():
    """check() is silent for a command the link carries; an adapter raises its own subclass."""
    NOTHING_EXTRA.check(Command(CommandKind.PAUSE), "OCPP 1.6")

    with pytest.raises(OcppUnsupportedCommandError):
        NOTHING_EXTRA.check(Command(CommandKind.LOCK), "OCPP 1.6", OcppUnsupportedCommandError)
