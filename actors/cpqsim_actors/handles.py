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
from collections.abc import AsyncIterator
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

    def stream(self, method: str, *args: Any) -> AsyncIterator[Any]:
        """The items an async-generator method yields, each as soon as it is yielded."""
        ...

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

    async def stream(self, method: str, *args: Any) -> AsyncIterator[Any]:
        if self._dead:
            raise ActorUnavailable(f"actor {self.name} is dead")
        obj = self._obj
        async for item in getattr(obj, method)(*args):
            if self._dead or self._obj is not obj:  # killed meanwhile: as a process dies
                raise ActorUnavailable(f"actor {self.name} died")
            yield item

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


def ray_init(num_cpus: int | None = None, namespace: str | None = None) -> bool:
    """Start (or join) Ray once per process; returns True if this call started it.

    Local embedded Ray by default, quiet and without the dashboard; when ``RAY_ADDRESS``
    is set, join that cluster instead (options such as ``num_cpus`` belong to the
    cluster then, not to us). ``namespace`` is the driver's Ray namespace (named actors
    name their own, see :class:`RayBackend`).
    """
    import ray

    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    common: dict[str, Any] = {
        "logging_level": logging.WARNING,
        "log_to_driver": True,
        "configure_logging": True,
        "namespace": namespace,
    }
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, **common)
    else:
        # Token authentication is Ray's default for a new local cluster (kept); the
        # WARNING line announcing it on every start is not news, so it is not shown.
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
            logging.ERROR
        )
        # address="local": always a Ray of our own, never a cluster some earlier
        # ``ray start`` left recorded in /tmp/ray (possibly dead: init would hang on it).
        ray.init(address="local", include_dashboard=False, num_cpus=num_cpus, **common)
    return True


def ray_shutdown() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


def ray_address() -> str:
    """The GCS address of the running cluster, for child processes to join it."""
    import ray

    return ray.get_runtime_context().gcs_address


def _named_handle(name: str, ray_name: str, namespace: str) -> RayHandle:
    return RayHandle(name, None, ray_name=ray_name, namespace=namespace)


class RayHandle:
    """A Ray actor handle; a *named* one travels by name and is looked up where it lands.

    Passing a raw Ray actor handle as a constructor argument puts the arguments in the
    object store, which Ray flags (and cannot restore) for restartable actors; a name
    is a plain string, and after a restart it still finds the actor.
    """

    def __init__(
        self,
        name: str,
        actor: Any,
        ray_name: str | None = None,
        namespace: str | None = None,
    ) -> None:
        self.name = name
        self._ray_actor = actor
        self.ray_name = ray_name
        self.namespace = namespace

    @property
    def _actor(self) -> Any:
        if self._ray_actor is None:
            import ray

            self._ray_actor = ray.get_actor(self.ray_name, namespace=self.namespace)
        return self._ray_actor

    def __reduce__(self):
        if self.ray_name is not None and self.namespace is not None:
            return (_named_handle, (self.name, self.ray_name, self.namespace))
        return (RayHandle, (self.name, self._actor))

    async def call(self, method: str, *args: Any) -> Any:
        from ray.exceptions import RayActorError

        try:
            return await getattr(self._actor, method).remote(*args)
        except RayActorError as exc:
            raise ActorUnavailable(f"actor {self.name} unavailable: {exc}") from exc

    async def stream(self, method: str, *args: Any) -> AsyncIterator[Any]:
        from ray.exceptions import RayActorError

        try:
            async for ref in getattr(self._actor, method).remote(*args):
                yield await ref
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
    session or a long-lived driver keeps its Ray across platforms. With a ``namespace``
    every actor is *named* ``{name_prefix}{spec.name}`` in it, so ``ray.get_actor``, the
    Ray dashboard and other gateway processes (``cpqsim_actors.naming``) find them.
    """

    def __init__(
        self,
        num_cpus: int | None = None,
        namespace: str | None = None,
        name_prefix: str = "",
    ) -> None:
        self.owns_ray = ray_init(num_cpus)
        self.namespace = namespace
        self.name_prefix = name_prefix
        self.handles: list[RayHandle] = []

    def create(self, spec: ActorSpec) -> RayHandle:
        import ray

        options: dict[str, Any] = {
            "num_cpus": 0,  # actors mostly wait; never let placement block on CPUs
            "max_restarts": spec.max_restarts,
        }
        if spec.max_concurrency is not None:
            options["max_concurrency"] = spec.max_concurrency
        ray_name = None
        if self.namespace is not None:
            ray_name = f"{self.name_prefix}{spec.name}"
            options.update(name=ray_name, namespace=self.namespace)
        actor = ray.remote(spec.cls).options(**options).remote(*spec.args)
        handle = RayHandle(spec.name, actor, ray_name=ray_name, namespace=self.namespace)
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
