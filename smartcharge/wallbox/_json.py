"""A depth guard for the cloud's JSON, checked before ``json.loads`` sees the text.

``json.loads`` recurses once per nesting level, so an answer nested a few thousand levels
deep ends in a ``RecursionError`` (and one nested a little less can hit the limit later, in
whatever walks the data). The cloud's answers nest a handful of levels (v4 sessions:
``data[].attributes.currency``, wallbox-api.md §4.6), so anything deeper is refused first.
"""

from __future__ import annotations

import re

# Four levels are the deepest seen (wallbox-api.md §4); eight times that leaves room for any
# new field the cloud adds and is still far below Python's recursion limit (1000).
MAX_JSON_DEPTH = 32

# A string (a key when a colon follows), or a bracket. Strings are skipped whole, so brackets
# inside them do not count.
_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"\s*(:)?|[\[\]{}]')


def json_too_deep(text: str, limit: int) -> str | None:
    """Return the field where ``text`` nests deeper than ``limit``, or None if it does not.

    The field is the dotted path of the keys on the way down (``[]`` for an array element),
    cut after four levels: ``config_data.x.[].y...``. Malformed text is not judged here;
    ``json.loads`` refuses it afterwards.
    """
    path: list[str] = []
    key: str | None = None
    for match in _TOKEN.finditer(text):
        lexeme = match.group(0)
        if lexeme[0] == '"':
            key = match.group(1) if match.group(2) else None
            continue
        if lexeme in "[{":
            # The root has no name; below it, a container is named by its key, or [] in an array.
            path.append("" if not path else key if key is not None else "[]")
            if len(path) > limit:
                return ".".join(path[1:5]) + "..."
        elif path:
            path.pop()
        key = None
    return None
