"""Named platforms on a shared Ray cluster: one owner, any number of attached gateways.

``cpqsim serve`` names every actor ``{platform}.{actor}`` in the Ray namespace
``cpqsim`` (``cpqsim.quote-0``, ``cpqsim.order-1``, ``cpqsim.downstream-billing``), so
``ray.get_actor`` and the Ray dashboard find them. The first gateway process *owns* the
actors (creates them, kills them when it stops); further gateway processes *attach*:
they look the same actors up by name and route to them exactly as the owner does, which
is what makes the gateway stateless and scale-out a matter of starting more processes.

The layout (how many quote and order shards, which downstream systems) is read from the
cluster, not re-declared, so an attached gateway can never route a quote id to a
different shard than the owner would.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

from cpqsim_actors.handles import ActorSpec, RayBackend, RayHandle, ray_init

NAMESPACE = "cpqsim"
DEFAULT_PLATFORM = "cpqsim"
_PLATFORM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


class PlatformNotFound(RuntimeError):
    """No actors of that platform name run on the cluster (or only part of them)."""


class PlatformNameTaken(RuntimeError):
    """A platform of that name already runs on the cluster: attach to it or pick another."""


def check_platform_name(name: str) -> str:
    if not _PLATFORM_NAME.match(name):
        raise ValueError(
            f"platform name {name!r}: use 1-63 letters, digits, '-' or '_' "
            "(it prefixes every Ray actor name)"
        )
    return name


def prefix(platform: str) -> str:
    return f"{check_platform_name(platform)}."


@dataclass(frozen=True)
class Layout:
    """What an owner created, as found on the cluster by name."""

    quote_shards: int
    order_shards: int
    downstream: tuple[str, ...]


def _named_actors() -> list[str]:
    from ray.util import list_named_actors

    return [
        entry["name"]
        for entry in list_named_actors(all_namespaces=True)
        if entry.get("namespace") == NAMESPACE
    ]


def find_layout(platform: str) -> Layout | None:
    """The layout of the live platform ``platform``, or None if none of its actors run."""
    head = prefix(platform)
    quotes, orders, downstream = set(), set(), set()
    for name in _named_actors():
        if not name.startswith(head):
            continue
        rest = name[len(head) :]
        if m := re.fullmatch(r"quote-(\d+)", rest):
            quotes.add(int(m.group(1)))
        elif m := re.fullmatch(r"order-(\d+)", rest):
            orders.add(int(m.group(1)))
        elif rest.startswith("downstream-"):
            downstream.add(rest.removeprefix("downstream-"))
    if not (quotes or orders or downstream):
        return None
    if quotes != set(range(len(quotes))) or orders != set(range(len(orders))) or not quotes:
        raise PlatformNotFound(
            f"platform {platform!r} is only partly up (quote shards {sorted(quotes)}, "
            f"order shards {sorted(orders)}): is its owner still starting or stopping?"
        )
    return Layout(len(quotes), len(orders), tuple(sorted(downstream)))


def owner_backend(platform: str, num_cpus: int | None = None) -> RayBackend:
    """The backend that creates ``platform``'s actors under their names."""
    check_platform_name(platform)
    backend = RayBackend(num_cpus, namespace=NAMESPACE, name_prefix=prefix(platform))
    if find_layout(platform) is not None:
        backend.shutdown()  # nothing created yet; releases Ray only if it started it
        raise PlatformNameTaken(
            f"a platform named {platform!r} already runs on this Ray cluster: start this "
            "gateway with --attach to serve it too, or give this one another --name"
        )
    return backend


class AttachedRayBackend:
    """Hands out handles to an owner's existing actors; never creates or kills one.

    ``shutdown`` only forgets the handles: the actors belong to the owner, and a tool
    never deletes what it did not create.
    """

    def __init__(self, platform: str) -> None:
        self.owns_ray = ray_init()
        self.platform = platform
        self.handles: list[RayHandle] = []

    def create(self, spec: ActorSpec) -> RayHandle:
        import ray

        ray_name = f"{prefix(self.platform)}{spec.name}"
        try:
            actor = ray.get_actor(ray_name, namespace=NAMESPACE)
        except ValueError as exc:
            raise PlatformNotFound(
                f"platform {self.platform!r} has no actor {spec.name!r} on this cluster"
            ) from exc
        handle = RayHandle(spec.name, actor, ray_name=ray_name, namespace=NAMESPACE)
        self.handles.append(handle)
        return handle

    def shutdown(self) -> None:
        self.handles.clear()
        if self.owns_ray:
            with contextlib.suppress(Exception):
                import ray

                ray.shutdown()
            self.owns_ray = False
