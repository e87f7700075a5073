"""``cpqsim serve``: the live platform on Ray behind the HTTP gateway, in one process.

uvicorn is the server (measured here: about 1.1 k req/s awaiting a Ray actor on 2 cores,
where Ray Serve with defaults collapsed under load); scale out by running more gateway
processes against one cluster (``RAY_ADDRESS``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import cpqsim_scenarios
from cpqsim.catalog import load_catalog
from cpqsim_actors.platform import LivePlatform, PlatformConfig
from cpqsim_scenarios.model import load_scenario


def default_scenario_path() -> Path:
    return Path(cpqsim_scenarios.__file__).resolve().parents[1] / "library" / "happy_path.yaml"


def build_platform(
    catalog_path: Path | None = None,
    scenario_path: Path | None = None,
    time_scale: float = 0.001,
    quote_shards: int = 2,
    order_shards: int = 2,
) -> LivePlatform:
    """Downstream profiles and policy come from the scenario; the catalog may be swapped."""
    loaded = load_scenario(scenario_path or default_scenario_path())
    catalog = load_catalog(catalog_path) if catalog_path else loaded.catalog
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
        )
    )


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    catalog_path: Path | None = None,
    scenario_path: Path | None = None,
    time_scale: float = 0.001,
    quote_shards: int = 2,
    order_shards: int = 2,
) -> None:
    import uvicorn

    from cpqsim_actors.gateway import create_app

    platform = build_platform(catalog_path, scenario_path, time_scale, quote_shards, order_shards)
    try:
        app = create_app(platform)
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        platform.shutdown()


if __name__ == "__main__":  # python -m cpqsim_actors.serve [port]
    _port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    print(f"cpqsim gateway on http://127.0.0.1:{_port} (OpenAPI at /docs)", file=sys.stderr)
    serve(port=_port)
