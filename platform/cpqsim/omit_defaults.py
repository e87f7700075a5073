"""Fields added to a recorded fact after logs of it exist, written only when they matter.

A fact's JSON is what determinism and evidence are judged on. When a fact gains a field
(an approval step, a delegation), every log that never needed it must keep its bytes, so
the new field is left out of the dump while it holds its default; reading the fact back
gives the default again, so nothing is lost.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, SerializationInfo, SerializerFunctionWrapHandler, model_serializer

#: Per class, each omissible field's default, worked out once: asking pydantic for a
#: default made by a factory inspects the factory's signature every time (0.2-0.5 ms for
#: ``list``), which on a fact dumped thousands of times a run dominated its cost. The
#: values are only ever compared, never handed out, so sharing one empty list is safe.
_DEFAULTS: dict[type, dict[str, Any]] = {}


def _defaults(cls: type[OmitsDefaults]) -> dict[str, Any]:
    found = _DEFAULTS.get(cls)
    if found is None:
        fields = cls.model_fields
        found = {
            name: fields[name].get_default(call_default_factory=True)
            for name in sorted(cls.omit_when_default)
            if name in fields
        }
        _DEFAULTS[cls] = found
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
            for name, default in _defaults(type(self)).items():
                if name in data and getattr(self, name) == default:
                    del data[name]
        return data
