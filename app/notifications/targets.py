"""Where a company's webhook may point: a receiver on the internet, never the registry's own
network. A company admin chooses the URL, and the registry's servers post to it: without these
checks the admin could make them reach a database, a metadata service or an admin port inside
the network (a blind SSRF), and map it from the delivery errors.

- When the URL is set, an address written in it (or `localhost`) must be public; names are
  not looked up then, so that the answers cannot tell an admin which internal names exist.
- At each delivery the name is looked up, every address it has must be public, and the
  request goes to the address checked, with the name in Host and in TLS (SNI, certificate):
  a name that changes its answer between the check and the connection (DNS rebinding) cannot
  lead the request elsewhere.
- Loopback (this machine) only outside production with SIMREG_WEBHOOK_ALLOW_LOOPBACK, for a
  receiver under development; nothing private, link-local, multicast or reserved ever.

Persons' messages go to SIMREG_NOTIFY_PERSON_WEBHOOK_URL, which operators configure (an SMS
gateway inside the network is usual): that URL is not checked here.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64), reached through it.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCAL_NAMES = ("localhost", "localhost.")


class TargetRefused(Exception):
    """The webhook's host is not one the registry posts to (the reason is for the log only)."""


def _embedded(ip: IPAddress) -> IPAddress | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_allowed(ip: IPAddress, *, allow_loopback: bool) -> bool:
    """Whether a webhook may be posted to `ip`: a public unicast address, or loopback when
    `allow_loopback`."""
    inner = _embedded(ip)
    if inner is not None:
        return address_allowed(inner, allow_loopback=allow_loopback)
    if ip.is_loopback:
        return allow_loopback
    return ip.is_global and not ip.is_multicast


def literal_address(host: str) -> IPAddress | None:
    """The address written as the URL's host, if it is one, in any form a resolver takes
    without asking DNS (`127.1`, `0x7f000001` and `2130706433` are 127.0.0.1 too)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, UnicodeError, ValueError):
        return None


def is_loopback_host(host: str) -> bool:
    """`localhost` (and its subdomains) or a loopback address written as such."""
    name = host.lower()
    if name in _LOCAL_NAMES or name.endswith((".localhost", ".localhost.")):
        return True
    address = literal_address(name)
    return address is not None and address.is_loopback


def host_refusal(host: str, *, allow_loopback: bool) -> str | None:
    """Without looking the name up: why the URL's host can never be posted to, or None."""
    if is_loopback_host(host):
        return None if allow_loopback else "loopback"
    address = literal_address(host)
    if address is not None and not address_allowed(address, allow_loopback=allow_loopback):
        return "not a public address"
    return None


def resolve(host: str, port: int) -> list[str]:
    """The addresses of `host` (the system's resolver)."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


@dataclass(frozen=True)
class PinnedRequest:
    """A webhook request sent to an address checked just now, with the URL's name in the
    Host header and in TLS (server name and certificate check)."""

    url: httpx.URL
    host_header: str
    server_name: str

    @property
    def extensions(self) -> dict[str, str]:
        """httpx request extensions: the TLS server name."""
        return {"sni_hostname": self.server_name}


def pin(url: str, *, allow_loopback: bool) -> PinnedRequest:
    """Look the URL's host up and check every address; the request goes to the first.
    TargetRefused when the host does not resolve or any of its addresses is not allowed (one
    bad address is enough: the resolver may hand it out next time)."""
    parsed = httpx.URL(url)
    name = parsed.raw_host.decode("ascii")
    refusal = host_refusal(name, allow_loopback=allow_loopback)
    if refusal is not None:
        raise TargetRefused(refusal)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    literal = literal_address(name)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolve(name, port)]
        except (OSError, UnicodeError, ValueError) as exc:
            raise TargetRefused(f"no address: {type(exc).__name__}") from exc
    if not addresses:
        raise TargetRefused("no address")
    if not all(address_allowed(a, allow_loopback=allow_loopback) for a in addresses):
        raise TargetRefused("not a public address")
    return PinnedRequest(
        url=parsed.copy_with(host=str(addresses[0])),
        host_header=parsed.netloc.decode("ascii"),
        server_name=name.strip("[]"),
    )
