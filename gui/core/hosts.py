"""Where a server is: this machine, the local network, or the internet. One rule for all.

The spec's "which scheme did you mean?" hint and the "your key would travel in clear text"
warning (:func:`gui.core.keys.clear_text_warning`) both ask this module, so they can never
disagree about a host.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum

__all__ = ["HostScope", "host_scope"]

# Names that only resolve inside a local network (mDNS, home routers, RFC 8375, RFC 6762).
_LOCAL_SUFFIXES = (".local", ".lan", ".home.arpa", ".internal", ".localdomain")


class HostScope(StrEnum):
    """How far away a host is."""

    THIS_MACHINE = "this machine"
    LOCAL_NETWORK = "local network"
    INTERNET = "internet"


def host_scope(host: str | None) -> HostScope:
    """Where ``host`` (a name or an address, IPv6 with or without brackets) is.

    ``localhost`` and loopback or unspecified addresses are this machine; private,
    link-local and unique-local addresses, single-label names (``gpu-box``) and local-only
    suffixes (``.local``, ``.lan``, ...) are the local network; everything else (and an
    empty host) counts as the internet, the cautious answer.
    """
    name = (host or "").strip().lower().strip("[]").rstrip(".")
    if not name:
        return HostScope.INTERNET
    if name == "localhost" or name.endswith(".localhost"):
        return HostScope.THIS_MACHINE
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        if "." not in name or name.endswith(_LOCAL_SUFFIXES):
            return HostScope.LOCAL_NETWORK
        return HostScope.INTERNET
    if address.is_loopback or address.is_unspecified:
        return HostScope.THIS_MACHINE
    if address.is_private or address.is_link_local:
        return HostScope.LOCAL_NETWORK
    return HostScope.INTERNET
