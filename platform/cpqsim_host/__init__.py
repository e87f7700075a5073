"""The host: everything between the pure core and a runtime, written once.

The effect runner (effects -> calls, timers, queries; replies and timeouts -> signals),
the journey interpreter (the customer script), the conversion step, the downstream fakes'
SimPy body and the scenario model. They talk to small runtime ports
(:mod:`cpqsim_host.port`) that the sim (SimPy), in-process (asyncio) and Ray runtimes
implement. Dependencies point one way: core <- host <- runtimes <- CLI.
"""
