"""The one error pricing raises: the request cannot be priced, and why."""

from __future__ import annotations

from cpqsim.configuration import ConfigurationViolation

__all__ = ["PricingError"]


class PricingError(ValueError):
    """The request cannot be priced; ``violations`` lists configuration problems, if any."""

    def __init__(self, message: str, violations: list[ConfigurationViolation] | None = None):
        self.violations = list(violations or [])
        if self.violations:
            message += "".join(f"\n  - {v.path}: [{v.rule}] {v.message}" for v in self.violations)
        super().__init__(message)
