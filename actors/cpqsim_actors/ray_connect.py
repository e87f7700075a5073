"""Joining the Ray cluster named by ``RAY_ADDRESS`` within a bounded time, or saying why not.

``ray.init(address=...)`` towards an address nobody answers on retries for minutes,
printing C++ warnings, before it gives up. A gateway that is asked to join a cluster
should instead say in a few seconds that it cannot, and exit 2. Two checks: a plain TCP
connect to the GCS port (fails in milliseconds when nothing listens), then
``ray.init`` itself under a deadline (something listens but is not a Ray head).
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Callable

DEFAULT_TIMEOUT_S = 30.0
EXIT_UNREACHABLE = 2


class RayUnreachable(RuntimeError):
    """The cluster in ``RAY_ADDRESS`` does not answer; the message says what to check."""


def gcs_host_port(address: str) -> tuple[str, int] | None:
    """``host:port`` of a GCS address (``ray://`` client addresses too); None for auto/local."""
    plain = address.strip()
    if plain in ("", "auto", "local"):
        return None
    plain = plain.removeprefix("ray://")
    host, sep, port = plain.rpartition(":")
    if not sep or not port.isdigit():
        raise RayUnreachable(
            f"RAY_ADDRESS={address!r} is not host:port (e.g. 127.0.0.1:6379) or 'auto'"
        )
    return host.strip("[]") or "127.0.0.1", int(port)


def probe(address: str, timeout_s: float) -> None:
    target = gcs_host_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout_s):
            return
    except OSError as exc:
        raise RayUnreachable(
            f"cannot reach the Ray cluster at RAY_ADDRESS={address} ({exc.strerror or exc}); "
            "start it (`ray start --head`) or unset RAY_ADDRESS to run a local Ray"
        ) from None


def join_within(init: Callable[[], object], timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """Probe ``RAY_ADDRESS`` (if set), then run ``init`` (which joins) under a deadline.

    ``init`` runs on the calling (main) thread, where Ray wants to install its signal
    handlers; a watchdog ends the process with exit 2 and a message if it overruns.
    """
    address = os.environ.get("RAY_ADDRESS")
    if address:
        probe(address, min(timeout_s, 5.0))

    def overran() -> None:
        where = f" at RAY_ADDRESS={address}" if address else ""
        sys.stderr.write(
            f"cpqsim: Ray did not come up within {timeout_s:.0f} s{where}; "
            "is that address a Ray head node?\n"
        )
        sys.stderr.flush()
        os._exit(EXIT_UNREACHABLE)

    watchdog = threading.Timer(timeout_s, overran)
    watchdog.daemon = True
    watchdog.start()
    try:
        init()
    except Exception as exc:
        raise RayUnreachable(f"Ray failed to start or join: {exc}") from exc
    finally:
        watchdog.cancel()
