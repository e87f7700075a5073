"""Scenario model, sim runtime (SimPy), runner, reports and the ``cpqsim`` CLI."""
