"""Fields added to a recorded fact after logs of it exist, written only when they matter.

A fact's JSON is what determinism and evidence are judged on. When a fact gains a field
(an approval step, a delegation), every log that never needed it must keep its bytes, so
the new field is left out of the dump while it holds its default; reading the fact back
gives the default again, so nothing is lost.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, SerializationInfo, SerializerFunctionWrapHandler, model_serializer

#: Each class's default per omissible field, computed once: asking pydantic for a default
#: made by a factory inspects the factory's signature every time, which cost a dump of
#: a fact with a list or dict field ~0.4 ms (the cache is never handed out, so a
#: factory's fresh value stays unshared).
_DEFAULTS: dict[type, dict[str, Any]] = {}


def _defaults_of(cls: type[BaseModel], names: frozenset[str]) -> dict[str, Any]:
    found = _DEFAULTS.get(cls)
    if found is None:
        fields = cls.model_fields
        found = _DEFAULTS[cls] = {
            name: fields[name].get_default(call_default_factory=True) for name in names
        }
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
            defaults = _defaults_of(type(self), self.omit_when_default)
            for name in self.omit_when_default:
                if name in data and getattr(self, name) == defaults[name]:
                    del data[name]
        return data
