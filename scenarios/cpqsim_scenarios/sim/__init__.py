"""The sim runtime: SimPy virtual time, one process, one master seed."""
