"""``WWW-Authenticate`` challenges (RFC 9110 §11.6.1) as registries send them.

A header holds one or more challenges separated by commas, each a scheme and then either
``name=value`` parameters (value a token or a quoted string with backslash escapes) or a
token68. Several header lines may be given; their challenges are concatenated.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_SPACE = re.compile(r"[ \t]*")


@dataclass(frozen=True)
class Challenge:
    """One challenge; ``scheme`` and parameter names are lower case."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)
    token68: str | None = None

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scopes(self) -> tuple[str, ...]:
        """The ``scope`` parameter split on spaces (a challenge may ask for several)."""
        return tuple(self.params.get("scope", "").split())

    @property
    def error(self) -> str | None:
        return self.params.get("error")


def parse_challenges(headers: str | Iterable[str]) -> list[Challenge]:
    """All challenges in one header value or several; malformed trailing text is ignored."""
    values = [headers] if isinstance(headers, str) else list(headers)
    out: list[Challenge] = []
    for value in values:
        out.extend(_Parser(value).challenges())
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def challenges(self) -> list[Challenge]:
        out: list[Challenge] = []
        while True:
            self._skip(" \t,")
            scheme = self._match(_TOKEN)
            if scheme is None:
                return out
            params: dict[str, str] = {}
            token68 = None
            self._skip(" \t")
            if self._starts_param():
                params = self._params()
            else:
                token68 = self._match(_TOKEN68)
            out.append(Challenge(scheme.lower(), params, token68))

    def _params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        while self._starts_param():
            name = self._match(_TOKEN)
            assert name is not None
            self._skip(" \t")
            self.pos += 1  # "="
            self._skip(" \t")
            value = self._quoted() if self._peek() == '"' else (self._match(_TOKEN) or "")
            params.setdefault(name.lower(), value)
            self._skip(" \t")
            if self._peek() != ",":
                break
            while self._peek() in (",", " ", "\t"):
                self.pos += 1
        return params

    def _starts_param(self) -> bool:
        """At ``name =`` (a parameter), not at the next challenge's scheme or a token68."""
        m = _TOKEN.match(self.text, self.pos)
        if not m:
            return False
        rest = _SPACE.match(self.text, m.end())
        after = rest.end() if rest else m.end()
        if after >= len(self.text) or self.text[after] != "=":
            return False
        # "abc==" or "abc=" at the end is a token68, not a parameter.
        tail = self.text[after:].lstrip("=")
        return bool(tail.strip(" \t")) and not tail.lstrip(" \t").startswith(",")

    def _quoted(self) -> str:
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text):
            c = self.text[self.pos]
            self.pos += 1
            if c == "\\" and self.pos < len(self.text):
                chars.append(self.text[self.pos])
                self.pos += 1
            elif c == '"':
                break
            else:
                chars.append(c)
        return "".join(chars)

    def _match(self, pattern: re.Pattern[str]) -> str | None:
        m = pattern.match(self.text, self.pos)
        if not m:
            return None
        self.pos = m.end()
        return m.group()

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _skip(self, chars: str) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in chars:
            self.pos += 1
