"""Loaded by any Python started with this folder first on PYTHONPATH: every attempt to open a network
connection (anything but a Unix socket) is recorded to $NETGUARD_LOG and refused. Warnings whose message
matches the regex $NETGUARD_WARNINGS_AS_ERRORS become errors (e.g. glyphs missing from a figure's font)."""
import os
import socket
import warnings

_LOG = os.environ.get("NETGUARD_LOG", "")


def _record(what: str) -> None:
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as fh:
            fh.write(what + "\n")


_original_connect = socket.socket.connect
_original_connect_ex = socket.socket.connect_ex


def _guarded(original):
    def connect(self, address):
        if self.family == socket.AF_UNIX:
            return original(self, address)
        _record(f"connect {address!r}")
        raise OSError("network access blocked by tests/netguard")
    return connect


def _blocked_getaddrinfo(host, *args, **kwargs):
    _record(f"getaddrinfo {host!r}")
    raise socket.gaierror("name resolution blocked by tests/netguard")


def _blocked_create_connection(address, *args, **kwargs):
    _record(f"create_connection {address!r}")
    raise OSError("network access blocked by tests/netguard")


socket.socket.connect = _guarded(_original_connect)
socket.socket.connect_ex = _guarded(_original_connect_ex)
socket.getaddrinfo = _blocked_getaddrinfo
socket.create_connection = _blocked_create_connection

if os.environ.get("NETGUARD_WARNINGS_AS_ERRORS"):
    warnings.filterwarnings("error", message=os.environ["NETGUARD_WARNINGS_AS_ERRORS"])
