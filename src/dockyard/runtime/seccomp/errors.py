"""The one exception seccomp code raises for bad input."""

from __future__ import annotations

from ..errors import ConfigError


class SeccompError(ConfigError):
    """A seccomp profile or program is malformed or unsupported; names the field.

    A ``ValueError`` (through ``ConfigError``), with a one-line message such as
    ``linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"``.
    """
