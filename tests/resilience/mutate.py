"""Seeded mutations of recorded JSON and XML answers, each tagged with its kind."""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass
from typing import Any

HTML_PAGE = (
    "<html><head><title>502 Bad Gateway</title></head>"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


@dataclass(frozen=True)
class Mutant:
    """One answer to serve.

    Attributes:
        kind: what was done to the recording (``missing_field``, ``wrong_type``, ...).
        status: the HTTP status to answer with.
        body: the bytes of the body.
        content_type: the Content-Type header.
        path: the JSON path that was changed, if any (e.g. ``config_data.locked``).
    """

    kind: str
    status: int
    body: bytes
    content_type: str = "application/json"
    path: str | None = None


def _paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    out: list[tuple[str | int, ...]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            out.append((*prefix, key))
            out.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out.append((*prefix, i))
            out.extend(_paths(child, (*prefix, i)))
    return out


def _parent(doc: Any, path: tuple[str | int, ...]) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


_WRONG_VALUES: list[Any] = [
    None,
    "",
    "abc",
    "12",
    -1,
    0,
    1e308,
    -(10**30),
    10**30,
    3.5,
    True,
    [],
    {},
    [1, 2],
    {"value": "x"},
    "2025-13-45 99:99:99",
    "\u202e\u0000",
]
_SPECIAL_FLOATS = ["NaN", "Infinity", "-Infinity"]


class JsonMutator:
    """Make mutants of one recorded JSON document, reproducibly from a seed."""

    KINDS = (
        "missing_field",
        "wrong_type",
        "special_float",
        "unknown_status_id",
        "truncated_json",
        "html_error_page",
        "html_with_200",
        "empty_body",
        "wrong_top_level",
        "not_utf8",
        "null_object",
    )

    def __init__(self, recording: Any, rng: random.Random) -> None:
        self._doc = recording
        self._rng = rng
        self._paths = _paths(recording)

    def make(self, kind: str | None = None) -> Mutant:
        """Return one mutant of ``kind`` (random kind when None)."""
        rng = self._rng
        kind = kind or rng.choice(self.KINDS)
        doc = copy.deepcopy(self._doc)
        if kind == "missing_field":
            path = rng.choice(self._paths)
            parent = _parent(doc, path)
            if isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent.pop(path[-1])
            return self._json(kind, doc, path)
        if kind == "wrong_type":
            path = rng.choice(self._paths)
            _parent(doc, path)[path[-1]] = copy.deepcopy(rng.choice(_WRONG_VALUES))
            return self._json(kind, doc, path)
        if kind == "null_object":
            dicts = [p for p in self._paths if isinstance(_get(self._doc, p), dict | list)]
            path = rng.choice(dicts) if dicts else rng.choice(self._paths)
            _parent(doc, path)[path[-1]] = None
            return self._json(kind, doc, path)
        if kind == "special_float":
            numbers = [
                p
                for p in self._paths
                if isinstance(_get(self._doc, p), int | float)
                and not isinstance(_get(self._doc, p), bool)
            ]
            path = rng.choice(numbers)
            marker = "__SPECIAL__"
            _parent(doc, path)[path[-1]] = marker
            text = json.dumps(doc).replace(f'"{marker}"', rng.choice(_SPECIAL_FLOATS))
            return Mutant(kind, 200, text.encode(), path=_dotted(path))
        if kind == "unknown_status_id":
            ids = [p for p in self._paths if p and p[-1] in ("status_id", "status")]
            value = rng.choice([-1, 0, 1, 7, 99, 150, 999, 2**31, 65535])
            for path in ids:
                _parent(doc, path)[path[-1]] = value
            return self._json(kind, doc, _dotted(ids[0]) if ids else None)
        if kind == "truncated_json":
            raw = json.dumps(doc).encode()
            return Mutant(kind, 200, raw[: rng.randrange(1, len(raw) - 1)])
        if kind == "html_error_page":
            status = rng.choice([502, 503, 504, 500])
            return Mutant(kind, status, HTML_PAGE.encode(), "text/html")
        if kind == "html_with_200":
            return Mutant(
                kind, 200, HTML_PAGE.encode(), rng.choice(["text/html", "application/json"])
            )
        if kind == "empty_body":
            return Mutant(kind, 200, b"")
        if kind == "wrong_top_level":
            return Mutant(
                kind, 200, json.dumps(rng.choice([[], [doc], "ok", 42, None, True])).encode()
            )
        if kind == "not_utf8":
            raw = json.dumps(doc).encode()
            cut = rng.randrange(1, len(raw) - 1)
            return Mutant(kind, 200, raw[:cut] + b"\xff\xfe\xc3" + raw[cut:])
        raise ValueError(f"unknown mutation kind {kind}")

    @staticmethod
    def _json(kind: str, doc: Any, path: Any) -> Mutant:
        dotted = _dotted(path) if isinstance(path, tuple) else path
        return Mutant(kind, 200, json.dumps(doc).encode(), path=dotted)


def _get(doc: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _dotted(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in path)


class XmlMutator:
    """Make mutants of one recorded XML document (text-level, so any damage is possible)."""

    KINDS = (
        "truncated_xml",
        "bytes_flipped",
        "element_dropped",
        "number_garbled",
        "tag_renamed",
        "html_instead",
        "empty_body",
        "entity_bomb",
    )

    def __init__(self, recording: str, rng: random.Random, *, huge_positions: bool = True) -> None:
        self._text = recording
        self._rng = rng
        self._huge_positions = huge_positions

    def make(self, kind: str | None = None) -> tuple[str, str]:
        """Return ``(kind, text)``."""
        rng = self._rng
        kind = kind or rng.choice(self.KINDS)
        text = self._text
        if kind == "truncated_xml":
            return kind, text[: rng.randrange(1, len(text) - 1)]
        if kind == "bytes_flipped":
            chars = list(text)
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(chars))
                chars[i] = rng.choice("<>&\"'/=0-9.x\x00 ")
            return kind, "".join(chars)
        if kind == "element_dropped":
            tags = ["<price.amount>", "<position>", "<start>", "<end>", "<resolution>", "<Point>"]
            tag = rng.choice(tags)
            close = tag.replace("<", "</")
            starts = [i for i in range(len(text)) if text.startswith(tag, i)]
            if not starts:
                return kind, text
            i = rng.choice(starts)
            j = text.find(close, i)
            return kind, text[:i] + text[j + len(close) :] if j > 0 else text[:i]
        if kind == "number_garbled":
            tag = rng.choice(["<price.amount>", "<position>"])
            starts = [i for i in range(len(text)) if text.startswith(tag, i)]
            i = rng.choice(starts) + len(tag)
            j = text.find("<", i)
            junk = rng.choice(["abc", "", "1e999", "NaN", "-", "1,5", "99999999999999999999"])
            if tag == "<position>" and not self._huge_positions and junk.isdigit():
                junk = "0"
            return kind, text[:i] + junk + text[j:]
        if kind == "tag_renamed":
            tag = rng.choice(["TimeSeries", "Period", "Point", "timeInterval"])
            return kind, text.replace(f"<{tag}>", f"<{tag}X>").replace(f"</{tag}>", f"</{tag}X>")
        if kind == "html_instead":
            return kind, HTML_PAGE
        if kind == "empty_body":
            return kind, ""
        if kind == "entity_bomb":
            bomb = (
                '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
                "]><Publication_MarketDocument>&lol3;</Publication_MarketDocument>"
            )
            return kind, bomb
        raise ValueError(f"unknown mutation kind {kind}")
