"""Fields added to a recorded fact after logs of it exist, written only when they matter.

A fact's JSON is what determinism and evidence are judged on. When a fact gains a field
(an approval step, a delegation), every log that never needed it must keep its bytes, so
the new field is left out of the dump while it holds its default; reading the fact back
gives the default again, so nothing is lost.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, SerializationInfo, SerializerFunctionWrapHandler, model_serializer

#: Each class's omitted fields with their default values, worked out once: pydantic's
#: ``get_default`` inspects a default factory's signature on every call, which cost about
#: a millisecond per dump on a loaded machine. The values are only compared, never handed
#: out, so one instance per class is safe even for mutable defaults.
_DEFAULTS: dict[type, tuple[tuple[str, Any], ...]] = {}


def _defaults_of(cls: type[OmitsDefaults]) -> tuple[tuple[str, Any], ...]:
    found = _DEFAULTS.get(cls)
    if found is None:
        fields = cls.model_fields
        found = _DEFAULTS[cls] = tuple(
            (name, fields[name].get_default(call_default_factory=True))
            for name in sorted(cls.omit_when_default)
            if name in fields
        )
    return found


class OmitsDefaults(BaseModel):
    """Leaves the fields named in ``omit_when_default`` out of a dump while at default."""

    omit_when_default: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _without_defaults(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for name, default in _defaults_of(type(self)):
                if name in data and getattr(self, name) == default:
                    del data[name]
        return data
