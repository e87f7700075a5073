"""``python -m cpqsim_scenarios`` is the ``cpqsim`` command."""

from cpqsim_scenarios.cli import app

app(prog_name="cpqsim")
