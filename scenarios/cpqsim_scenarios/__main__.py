"""``python -m cpqsim_scenarios`` is the ``cpqsim`` command."""

from cpqsim_scenarios.cli import main

main()
