# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Refuse network connections beyond loopback inside a notebook kernel (the tutorials must download nothing).

The notebook tests start each kernel with ``install()`` in its start-up lines: any ``connect`` to an address
outside loopback, or a name lookup of a host other than ``localhost``, raises ``ConnectionRefusedError`` naming
the address, so the cell (and the test) fails where a download starts. Local servers (Orthanc, MONAI Label on
127.0.0.1) and the kernel's own ZeroMQ sockets (native code) are untouched.
"""

from __future__ import annotations

import ipaddress
import socket

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


def _is_local(host) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host).split("%", 1)[0]
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check(address) -> None:
    if isinstance(address, tuple) and address and not _is_local(address[0]):
        raise ConnectionRefusedError(f"network access to {address!r} is blocked: tutorials must not download")


def install() -> None:
    """Patch ``socket`` so that only loopback connections and lookups of local names succeed."""
    if getattr(socket, "_tutorial_guard", False):
        return
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def guarded_connect(self, address):
        _check(address)
        return connect(self, address)

    def guarded_connect_ex(self, address):
        _check(address)
        return connect_ex(self, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        _check((host,))
        return getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = guarded_connect
    socket.socket.connect_ex = guarded_connect_ex
    socket.getaddrinfo = guarded_getaddrinfo
    socket._tutorial_guard = True
