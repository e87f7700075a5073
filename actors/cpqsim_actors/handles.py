"""The thin handle layer: the only module that touches the Ray API.

Everything else (platform routing, the scenario driver, the gateway) talks to
:class:`ActorHandle` objects and a :class:`Backend`. ``RayBackend`` makes real actors;
``LocalBackend`` instantiates the same actor classes in-process, so sharding, batching,
orchestration and journal replay are testable without starting Ray.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ActorSpec:
    """How to build one actor: the plain class, its constructor args, and Ray options."""

    name: str
    cls: type
    args: tuple = ()
    is_async: bool = False
    max_restarts: int = 0
    max_concurrency: int | None = None


class ActorHandle(Protocol):
    name: str

    async def call(self, method: str, *args: Any) -> Any: ...

    def call_blocking(self, method: str, *args: Any) -> Any: ...

    def kill(self, restart: bool = False) -> None: ...


class Backend(Protocol):
    def create(self, spec: ActorSpec) -> ActorHandle: ...

    def shutdown(self) -> None: ...


class ActorUnavailable(RuntimeError):
    """An actor died or is restarting; the caller may retry."""


# ----------------------------------------------------------------------- in-process


class LocalHandle:
    """An actor object living in this process; ``kill(restart=True)`` rebuilds it."""

    def __init__(self, spec: ActorSpec) -> None:
        self.name = spec.name
        self._spec = spec
        self._obj: Any = spec.cls(*spec.args)
        self._dead = False

    @property
    def instance(self) -> Any:
        return self._obj

    async def call(self, method: str, *args: Any) -> Any:
        if self._dead:
            raise ActorUnavailable(f"actor {self.name} is dead")
        result = getattr(self._obj, method)(*args)
        if inspect.isawaitable(result):
            result = await result
        return result

    def call_blocking(self, method: str, *args: Any) -> Any:
        result = getattr(self._obj, method)(*args)
        if inspect.isawaitable(result):
            raise TypeError(f"{self.name}.{method} is async; await call() instead")
        return result

    def kill(self, restart: bool = False) -> None:
        stop = getattr(self._obj, "stop", None)
        if stop is not None and not inspect.iscoroutinefunction(stop):
            stop()
        if restart:
            self._obj = self._spec.cls(*self._spec.args)
        else:
            self._dead = True


@dataclass
class LocalBackend:
    handles: list[LocalHandle] = field(default_factory=list)

    def create(self, spec: ActorSpec) -> LocalHandle:
        handle = LocalHandle(spec)
        self.handles.append(handle)
        return handle

    def shutdown(self) -> None:
        for handle in self.handles:
            handle.kill()
        self.handles.clear()


# ------------------------------------------------------------------------------ Ray


def ray_init(num_cpus: int | None = None) -> bool:
    """Start (or join) Ray once per process; returns True if this call started it.

    Local embedded Ray by default, quiet and without the dashboard; when ``RAY_ADDRESS``
    is set, join that cluster instead (options such as ``num_cpus`` belong to the
    cluster then, not to us).
    """
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    common: dict[str, Any] = {
        "logging_level": logging.WARNING,
        "log_to_driver": True,
        "configure_logging": True,
    }
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, **common)
    else:
        ray.init(include_dashboard=False, num_cpus=num_cpus, **common)
    return True


def ray_shutdown() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


def ray_address() -> str:
    """The GCS address of the running cluster, for child processes to join it."""
    import ray

    return ray.get_runtime_context().gcs_address


class RayHandle:
    def __init__(self, name: str, actor: Any) -> None:
        self.name = name
        self._actor = actor

    async def call(self, method: str, *args: Any) -> Any:
        from ray.exceptions import RayActorError

        try:
            return await getattr(self._actor, method).remote(*args)
        except RayActorError as exc:
            raise ActorUnavailable(f"actor {self.name} unavailable: {exc}") from exc

    def call_blocking(self, method: str, *args: Any) -> Any:
        import ray
        from ray.exceptions import RayActorError

        try:
            return ray.get(getattr(self._actor, method).remote(*args))
        except RayActorError as exc:
            raise ActorUnavailable(f"actor {self.name} unavailable: {exc}") from exc

    def kill(self, restart: bool = False) -> None:
        import ray

        ray.kill(self._actor, no_restart=not restart)


class RayBackend:
    """Creates actors on the current Ray cluster; ``shutdown`` kills only those actors.

    Ray itself is shut down only if this backend started it (``owns_ray``), so a test
    session or a long-lived driver keeps its Ray across platforms.
    """

    def __init__(self, num_cpus: int | None = None) -> None:
        self.owns_ray = ray_init(num_cpus)
        self.handles: list[RayHandle] = []

    def create(self, spec: ActorSpec) -> RayHandle:
        import ray

        options: dict[str, Any] = {
            "num_cpus": 0,  # actors mostly wait; never let placement block on CPUs
            "max_restarts": spec.max_restarts,
        }
        if spec.max_concurrency is not None:
            options["max_concurrency"] = spec.max_concurrency
        actor = ray.remote(spec.cls).options(**options).remote(*spec.args)
        handle = RayHandle(spec.name, actor)
        self.handles.append(handle)
        return handle

    def shutdown(self) -> None:
        for handle in self.handles:
            with contextlib.suppress(Exception):  # already gone: nothing to release
                handle.kill()
        self.handles.clear()
        if self.owns_ray:
            ray_shutdown()
            self.owns_ray = False
