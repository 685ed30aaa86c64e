"""Where the web UI and the MCP HTTP server listen, and what they say about it at start.

Loopback (127.0.0.1, ::1, localhost) is the default. Any other address reaches beyond this machine: the
server then prints a warning, refuses a short hand-picked token (a generated one is always strong) and
prints the addresses it really listens on — every interface address when bound to 0.0.0.0 or ::, never
127.0.0.1 alone. The socket is bound and listening before anything is printed, so the printed port is the real one
(also for --port 0), a client that connects as soon as it reads the address is queued rather than refused
while the server starts, and a busy port is a clear error rather than a traceback.
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Sequence

from mlwright.errors import MlwrightError

MIN_EXPOSED_TOKEN_CHARS = 16
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _ip(host: str):
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    """True when `host` only reaches this machine (a name counts when everything it resolves to does)."""
    h = (host or "").strip().strip("[]")
    if not h:
        return False  # '' binds every interface
    if h.lower() in _LOOPBACK_NAMES:
        return True
    ip = _ip(h)
    if ip is not None:
        return ip.is_loopback
    try:
        addrs = {info[4][0] for info in socket.getaddrinfo(h, None, type=socket.SOCK_STREAM)}
    except OSError:
        return False
    return bool(addrs) and all((_ip(str(a)) is not None and _ip(str(a)).is_loopback) for a in addrs)


def check_token(host: str, token: str | None) -> None:
    """A hand-picked token must be long enough when the server is reachable from the network."""
    if token is not None and not token.strip():
        raise MlwrightError("The --token is empty.", hint="Leave --token out to get a random one, printed at start.")
    if token is not None and not is_loopback(host) and len(token) < MIN_EXPOSED_TOKEN_CHARS:
        raise MlwrightError(f"The --token is too short to protect a server listening on {host}, which other machines "
                            f"can reach: at least {MIN_EXPOSED_TOKEN_CHARS} characters are needed.",
                            hint="Leave --token out to get a strong random one (printed at start), or keep "
                                 "--host 127.0.0.1.")


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port and listening (the server accepts from it later); a clear error when that
    is impossible."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as e:
        raise MlwrightError(f"Cannot listen on {host!r}: {e.strerror or e}.",
                            hint="Give an IP address of this machine, 127.0.0.1, or 0.0.0.0 for all.") from None
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and _ip(str(addr[0])) is not None and _ip(str(addr[0])).is_unspecified:
            try:  # '::' takes IPv4 too where the system allows it
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            except (OSError, AttributeError):
                pass
        sock.bind(addr)
        sock.listen(socket.SOMAXCONN)
    except OSError as e:
        sock.close()
        raise MlwrightError(f"Cannot listen on {host}:{port}: {e.strerror or e}.",
                            hint="Choose another --port (0: any free port), or stop what uses this one.") from None
    sock.set_inheritable(True)
    return sock


def _fmt(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def listen_addresses(sock: socket.socket) -> list[str]:
    """'host:port' for every address the socket can be reached at: the interface addresses when bound to
    0.0.0.0 / :: (other machines' view first, loopback last), else the bound address."""
    bound, port = sock.getsockname()[:2]
    ip = _ip(bound)
    if ip is None or not ip.is_unspecified:
        return [f"{_fmt(bound)}:{port}"]
    families = {socket.AF_INET} if sock.family == socket.AF_INET else {socket.AF_INET, socket.AF_INET6}
    if sock.family == socket.AF_INET6:
        try:
            if sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY):
                families = {socket.AF_INET6}
        except (OSError, AttributeError):
            pass
    found: list[str] = []
    for a in _interface_ips(families):
        ipa = _ip(a)
        if ipa is None or ipa.is_link_local or a in found:  # link-local needs a %zone nobody can type
            continue
        found.append(a)
    found.sort(key=lambda a: (_ip(a).is_loopback, _ip(a).version, a))
    if not found:
        found = ["127.0.0.1"] if socket.AF_INET in families else ["::1"]
    return [f"{_fmt(a)}:{port}" for a in found]


def _interface_ips(families: set) -> list[str]:
    try:
        import psutil

        return [a.address.split("%")[0] for addrs in psutil.net_if_addrs().values() for a in addrs
                if a.family in families]
    except Exception:  # noqa: BLE001 - no interface list: fall back to the host name's addresses
        try:
            return [str(i[4][0]) for i in socket.getaddrinfo(socket.gethostname(), None) if i[0] in families] + \
                ["127.0.0.1"]
        except OSError:
            return []


def exposure_warning(what: str, host: str, addresses: Sequence[str]) -> str | None:
    """The warning printed when `host` is not loopback; None when it is."""
    if is_loopback(host):
        return None
    where = "every network interface" if (_ip(host) is not None and _ip(host).is_unspecified) or not host \
        else host
    outside = [a for a in addresses if not is_loopback(a.rsplit(":", 1)[0])] or list(addresses)
    return (f"WARNING: the {what} listens on {where}, not only on this machine: whoever can reach "
            f"{', '.join(outside)} and has the token can start runs on data under the allowed folders and read "
            "their results. The traffic is plain HTTP (not encrypted): use this on a trusted network only, or "
            "keep --host 127.0.0.1 and reach it through an SSH tunnel (ssh -L).")


def serve(app, sock: socket.socket) -> None:
    """Serve an ASGI app with uvicorn on an already bound socket until Ctrl-C / SIGTERM."""
    import uvicorn

    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                          timeout_graceful_shutdown=5))  # live streams close, not wait
    server.run(sockets=[sock])
