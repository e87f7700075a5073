"""``cpqsim serve``: the live platform on Ray behind the HTTP gateway, in one process.

uvicorn is the server (measured here: about 1.1 k req/s awaiting a Ray actor on 2 cores,
where Ray Serve with defaults collapsed under load). The process prints ``cpqsim ready``
only once every actor answers and the socket accepts connections; if the cluster in
``RAY_ADDRESS`` cannot be reached it says so within ``ray_timeout_s`` and exits 2.

Actors are named ``{name}.{actor}`` in the Ray namespace ``cpqsim`` (see
``cpqsim_actors.naming``). Scale out by running more gateway processes against one
cluster: the first one owns the actors, the others start with ``attach=True`` and serve
the same quotes and orders.

Callers authenticate with bearer tokens from ``principals_path`` (a principals file, see
:mod:`cpqsim_actors.auth`), checked before Ray starts; without one the demo principals
answer, their tokens are printed at start-up, and only a loopback ``host`` is allowed.
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import cpqsim_scenarios
from cpqsim_actors.auth import (
    PrincipalDirectory,
    PrincipalsFileInvalid,
    demo_banner,
    demo_directory,
    load_principals,
)
from cpqsim_actors.handles import Backend, ray_init
from cpqsim_actors.naming import (
    DEFAULT_PLATFORM,
    NAMESPACE,
    AttachedRayBackend,
    PlatformNameTaken,
    PlatformNotFound,
    find_layout,
    owner_backend,
)
from cpqsim_actors.platform import LivePlatform, PlatformConfig
from cpqsim_actors.ray_connect import DEFAULT_TIMEOUT_S, RayUnreachable, join_within
from cpqsim_actors.request_guard import DEFAULT_MAX_BODY_BYTES
from cpqsim_scenarios.files import load_catalog_file
from cpqsim_scenarios.model import load_scenario

EXIT_CANNOT_START = 2


def default_scenario_path() -> Path:
    return Path(cpqsim_scenarios.__file__).resolve().parents[1] / "library" / "happy_path.yaml"


def build_platform(
    catalog_path: Path | None = None,
    scenario_path: Path | None = None,
    time_scale: float = 0.001,
    quote_shards: int = 2,
    order_shards: int = 2,
    backend: Backend | None = None,
    journal: bool = True,
    journal_dir: Path | None = None,
) -> LivePlatform:
    """Downstream profiles and policy come from the scenario; the catalog may be swapped.

    With ``journal_dir`` the actors' journals live there and outlive the process: a new
    platform on the same folder serves the same quotes and orders.
    """
    loaded = load_scenario(scenario_path or default_scenario_path())
    catalog = load_catalog_file(catalog_path) if catalog_path else loaded.catalog
    needed = {s.system for o in catalog.offerings for s in o.decomposition} | {"billing"}
    missing = sorted(needed - set(loaded.scenario.downstream))
    if missing:
        raise ValueError(
            f"{scenario_path}: no downstream profile for system(s) {', '.join(missing)} "
            f"used by catalog {catalog.id}"
        )
    return LivePlatform(
        PlatformConfig(
            catalog=catalog,
            downstream=dict(loaded.scenario.downstream),
            policy=loaded.scenario.resilience_policy(),
            time_scale=time_scale,
            quote_shards=quote_shards,
            order_shards=order_shards,
            seed=loaded.scenario.seed,
            journal=journal,
            journal_dir=journal_dir,
            approval_policy=loaded.approval_policy,
            quote_policy=loaded.scenario.quote_policy,  # validity, customer facts
            installed_base=tuple(loaded.installed_base),  # what customers already have
        ),
        backend=backend,
    )


def attach_platform(
    name: str = DEFAULT_PLATFORM,
    catalog_path: Path | None = None,
    scenario_path: Path | None = None,
) -> LivePlatform:
    """A platform object routing to the running actors of platform ``name`` (creates none).

    Shard counts and downstream systems are read from the cluster; the catalog and the
    downstream profiles (for metrics) come from the same files the owner was started with.
    """
    layout = find_layout(name)
    if layout is None:
        raise PlatformNotFound(
            f"no platform named {name!r} runs on this Ray cluster (start one without --attach)"
        )
    platform = build_platform(
        catalog_path,
        scenario_path,
        quote_shards=layout.quote_shards,
        order_shards=layout.order_shards,
        backend=AttachedRayBackend(name),
        journal=False,
    )
    unknown = sorted(set(layout.downstream) - set(platform.config.downstream))
    if unknown:
        raise PlatformNotFound(
            f"platform {name!r} runs downstream system(s) {', '.join(unknown)} that the "
            "scenario given here does not describe: attach with the owner's --scenario"
        )
    return platform


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def choose_principals(principals_path: Path | None, host: str) -> PrincipalDirectory:
    """The principals file's, or the demo ones (loopback only, their tokens announced)."""
    if principals_path is not None:
        try:
            return load_principals(principals_path)
        except PrincipalsFileInvalid as exc:
            raise _fail(f"--principals: {exc}") from None
    if not is_loopback(host):
        raise _fail(
            f"--host {host}: the demo principals' tokens are public, so they serve loopback "
            "only; pass --principals FILE to serve on another address"
        )
    print(demo_banner(), file=sys.stderr, flush=True)
    return demo_directory()


def _fail(message: str) -> SystemExit:
    print(f"cpqsim serve: {message}", file=sys.stderr, flush=True)
    return SystemExit(EXIT_CANNOT_START)


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    catalog_path: Path | None = None,
    scenario_path: Path | None = None,
    time_scale: float = 0.001,
    quote_shards: int = 2,
    order_shards: int = 2,
    name: str = DEFAULT_PLATFORM,
    attach: bool = False,
    ray_timeout_s: float = DEFAULT_TIMEOUT_S,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    journal_dir: Path | None = None,
    principals_path: Path | None = None,
) -> None:
    import uvicorn

    from cpqsim_actors.gateway import create_app

    principals = choose_principals(principals_path, host)  # before Ray: seconds, processes
    try:
        join_within(lambda: ray_init(namespace=NAMESPACE), ray_timeout_s)
    except RayUnreachable as exc:
        raise _fail(str(exc)) from None
    try:
        if attach:
            platform = attach_platform(name, catalog_path, scenario_path)
        else:
            platform = build_platform(
                catalog_path,
                scenario_path,
                time_scale,
                quote_shards,
                order_shards,
                backend=owner_backend(name),
                journal_dir=journal_dir,
            )
    except (PlatformNameTaken, PlatformNotFound, ValueError) as exc:
        raise _fail(str(exc)) from None
    role = "attached to" if attach else "owning"
    shards = f"{len(platform.quote_shards)} quote + {len(platform.order_shards)} order shards"

    class AnnouncingServer(uvicorn.Server):
        """Says ``ready`` after the lifespan (every actor answered) and the socket bind."""

        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if self.started:
                print(
                    f"cpqsim ready on http://{host}:{port} ({role} platform {name!r}: "
                    f"{shards}; Ray namespace {NAMESPACE!r}; OpenAPI at /docs)",
                    file=sys.stderr,
                    flush=True,
                )

    try:
        app = create_app(platform, principals, max_body_bytes=max_body_bytes)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        AnnouncingServer(config).run()
    except KeyboardInterrupt:  # Ctrl-C is how a foreground server is stopped
        pass
    finally:
        platform.shutdown()


if __name__ == "__main__":  # python -m cpqsim_actors.serve [port] [--attach]
    _port = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 8000
    serve(port=_port, attach="--attach" in sys.argv)
