"""JSON answers rendered by pydantic-core's Rust serializer (about twice the stdlib's speed).

Every gateway answer is JSON; on the hot path (price a quote) rendering the TMF body was
a measurable share of the gateway's CPU. Values are plain JSON types already (the TMF
renderers make them so); a non-finite float, which JSON cannot carry, becomes ``null``.
"""

from __future__ import annotations

from typing import Any

import pydantic_core
from fastapi.responses import JSONResponse


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return pydantic_core.to_json(content, inf_nan_mode="null")
