"""The API's JSON parser: it refuses what PostgreSQL cannot store (see jobs.actions.fields).

JSON allows NaN/Infinity (Python's json does) and "\\u0000" in strings;
PostgreSQL's jsonb and text refuse both, so such input is a 400 here instead
of a database error later.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from ninja.parser import Parser

from jobs.actions.fields import Text, Time, find_nul
from jobs.api.errors import BodyError

__all__ = ["StrictJsonParser", "Text", "Time"]


def _refuse_constant(name: str) -> Any:
    raise BodyError(f"body: {name} is not a JSON number")


class StrictJsonParser(Parser):
    def parse_body(self, request: HttpRequest) -> Any:
        data = json.loads(request.body, parse_constant=_refuse_constant)
        where = find_nul(data)
        if where:
            raise BodyError(f"{where}: must not contain NUL characters")
        return data
