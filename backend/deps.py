"""Names of the app-wide dependencies, typed for handler signatures."""

from litestar.di import NamedDependency

from backend.context import Context
from roles import Principal

Caller = NamedDependency[Principal]  # parameter name: who
Ctx = NamedDependency[Context]  # parameter name: ctx
