"""Row ids as the edge accepts them, in paths and in bodies.

Ids are positive and fit PostgreSQL's ``integer`` (our SERIAL keys and their foreign keys): a
larger number can name no row, and passed on it overflows the database driver (a 500). Refused
at the edge instead, it is a 400 that names the parameter or field.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar.params import Parameter

MAX_ID = 2**31 - 1

Id = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]  # a body field
PathId = Annotated[int, Parameter(ge=1, le=MAX_ID)]  # a path parameter
