"""The live runtime: the pure core hosted in sharded Ray actors, plus the HTTP gateway.

Quote shards (sync actors) and order executors (async actors) hold ``PlatformCore``
slices; downstream actors give the shared SimPy downstream model a body in scaled real
time. Every Ray API call goes through :mod:`cpqsim_actors.handles`, so routing and
orchestration logic also runs in-process, without Ray, in unit tests.
"""
