"""nftables rules for bridge networks, in dockyard's own table only.

The whole table is generated from the desired state (the list of bridges and their subnets) by pure
functions and applied as one ``nft -j -f -`` transaction that re-creates the table
(``add table; delete table; add table; ...``), so a change is atomic and idempotent, and nothing
outside our table is read or changed. For each bridge:

* ``postrouting`` (nat, priority srcnat): ``ip saddr <subnet> oifname != <bridge> masquerade``;
* ``forward`` (filter, priority filter): ``iifname <bridge> accept`` (outbound and between
  containers of that bridge, including bridged traffic under br_netfilter),
  ``oifname <bridge> ct state established,related accept``, ``oifname <bridge> drop`` (nothing
  reaches a container from outside unless it asked; published ports will add DNAT + accepts).

Our chains never rely on their own or anyone else's default policy. Note the kernel's rule: an
accept in one table does not override a drop in another table's chain on the same hook, so a host
whose *other* ruleset drops forwarded traffic (dockerd's iptables FORWARD policy DROP) still drops
ours; only a rule in that table could change it, and we never touch other tables.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_TABLE = "dockyard"
FAMILY = "inet"  # one table for IPv4 now and IPv6 later


class NatError(RuntimeError):
    """nft is missing, or the kernel/nft refused our rules (message carries nft's stderr)."""


@dataclass(frozen=True)
class BridgeRules:
    bridge: str
    subnet: ipaddress.IPv4Network
    masquerade: bool = True  # False for --internal networks (networking issue)


def _table(name: str) -> dict[str, Any]:
    return {"family": FAMILY, "name": name}


def _prefix(net: ipaddress.IPv4Network) -> dict[str, Any]:
    return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}


def _match(left: dict[str, Any], right: Any, op: str = "==") -> dict[str, Any]:
    return {"match": {"op": op, "left": left, "right": right}}


def _rule(table: str, chain: str, expr: list[dict[str, Any]], comment: str) -> dict[str, Any]:
    return {
        "add": {
            "rule": {
                "family": FAMILY,
                "table": table,
                "chain": chain,
                "expr": expr,
                "comment": comment,
            }
        }
    }


def _chain(table: str, name: str, kind: str, hook: str, prio: int) -> dict[str, Any]:
    return {
        "add": {
            "chain": {
                "family": FAMILY,
                "table": table,
                "name": name,
                "type": kind,
                "hook": hook,
                "prio": prio,
                "policy": "accept",
            }
        }
    }


IIF = {"meta": {"key": "iifname"}}
OIF = {"meta": {"key": "oifname"}}
SADDR = {"payload": {"protocol": "ip", "field": "saddr"}}
CTSTATE = {"ct": {"key": "state"}}


def bridge_rules(table: str, net: BridgeRules) -> list[dict[str, Any]]:
    """The rule commands for one bridge (pure)."""
    tag = f"dockyard:{net.bridge}"
    out = []
    if net.masquerade:
        out.append(
            _rule(
                table,
                "postrouting",
                [
                    _match(SADDR, _prefix(net.subnet)),
                    _match(OIF, net.bridge, "!="),
                    {"masquerade": None},
                ],
                tag,
            )
        )
    out += [
        _rule(table, "forward", [_match(IIF, net.bridge), {"accept": None}], tag),
        _rule(
            table,
            "forward",
            [
                _match(OIF, net.bridge),
                _match(CTSTATE, ["established", "related"], "in"),
                {"accept": None},
            ],
            tag,
        ),
        _rule(table, "forward", [_match(OIF, net.bridge), {"drop": None}], tag),
    ]
    return out


def ruleset(nets: Iterable[BridgeRules], table: str = DEFAULT_TABLE) -> dict[str, Any]:
    """The whole transaction that (re)creates our table with rules for ``nets`` (pure)."""
    cmds: list[dict[str, Any]] = [
        {"add": {"table": _table(table)}},  # so that the delete cannot fail
        {"delete": {"table": _table(table)}},
        {"add": {"table": _table(table)}},
        _chain(table, "postrouting", "nat", "postrouting", 100),
        _chain(table, "forward", "filter", "forward", 0),
    ]
    for net in nets:
        cmds += bridge_rules(table, net)
    return {"nftables": [{"metainfo": {"json_schema_version": 1}}, *cmds]}


def delete_table(table: str = DEFAULT_TABLE) -> dict[str, Any]:
    """The transaction that removes our table (a no-op when it does not exist) (pure)."""
    return {
        "nftables": [
            {"add": {"table": _table(table)}},
            {"delete": {"table": _table(table)}},
        ]
    }


class Nft:
    """Runs ``nft -j`` (one process per change set)."""

    def __init__(self, binary: str | None = None) -> None:
        self._binary = binary

    def _nft(self) -> str:
        found = self._binary or shutil.which("nft") or shutil.which("nft", path="/usr/sbin:/sbin")
        if not found:
            raise NatError("nft not found: install the nftables package (apt-get install nftables)")
        return found

    def run(self, args: Sequence[str], payload: dict[str, Any] | None = None) -> str:
        cmd = [self._nft(), "-j", *args]
        proc = subprocess.run(
            cmd,
            input=json.dumps(payload) if payload is not None else None,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            detail = proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}"
            raise NatError(f"nft {' '.join(args)}: {detail}")
        return proc.stdout

    def apply(self, payload: dict[str, Any]) -> None:
        self.run(["-f", "-"], payload)

    def sync(self, nets: Iterable[BridgeRules], table: str = DEFAULT_TABLE) -> None:
        self.apply(ruleset(nets, table))

    def remove(self, table: str = DEFAULT_TABLE) -> None:
        self.apply(delete_table(table))

    def list_table(self, table: str = DEFAULT_TABLE) -> list[dict[str, Any]] | None:
        """Our table's objects as nft's JSON list, or None when the table does not exist."""
        try:
            out = self.run(["list", "table", FAMILY, table])
        except NatError as error:
            if "No such file or directory" in str(error):
                return None
            raise
        return json.loads(out)["nftables"]
