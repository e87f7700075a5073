"""cpqsim pure core: catalog, configuration, pricing, quote, order, orchestration.

Nothing in this package performs I/O on its own initiative, reads the clock, draws from
the global random generator or touches the network: time, identifiers and randomness are
handed in through :class:`cpqsim.context.Context`. Both runtimes (SimPy and Ray) drive
the same functions, which is what lets one invariant checker judge both.
"""

__version__ = "0.1.0"
