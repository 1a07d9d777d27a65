"""The names every part of the settings shares: the prefix, the .env variable, the secret files."""

from __future__ import annotations

import re

PREFIX = "SMARTCHARGE_"
ENV_FILE_VAR = "SMARTCHARGE_ENV_FILE"
# Settings whose value may come from a file instead (Docker secrets: /run/secrets/NAME).
SECRET_FILE_VARS = {
    "wallbox_password": "SMARTCHARGE_WALLBOX_PASSWORD_FILE",
    "entsoe_api_key": "SMARTCHARGE_ENTSOE_API_KEY_FILE",
    "api_token": "SMARTCHARGE_API_TOKEN_FILE",
}
# A URL's user:password@ part, masked wherever a URL is shown.
_URL_USERINFO = re.compile(r"(?<=//)[^/@\s]*@")


def mask_url(text: str) -> str:
    """Return ``text`` with a URL's ``user:password@`` replaced by ``***@``."""
    return _URL_USERINFO.sub("***@", text)
