"""The Wallbox adapter's defaults that the settings offer too: a data module with no imports.

``config`` takes its defaults from here (it may not import the adapter itself, and the adapter
never imports ``config``: tests/test_architecture.py), so each value has one source.
"""

from __future__ import annotations

# The cloud normally answers in well under a second; the user-api host has had slow spells
# (home-assistant/core#140059). 20 s lets a slow answer through yet bounds a daemon tick; it is
# the default of SMARTCHARGE_WALLBOX_TIMEOUT_S and applies to the whole exchange, body included.
DEFAULT_TIMEOUT_S = 20.0
