"""Names of the app-wide dependencies, typed for handler signatures; a route's declared permission."""

from litestar.di import NamedDependency

from backend.context import Context
from roles import Action, Principal

Caller = NamedDependency[Principal]  # parameter name: who
Ctx = NamedDependency[Context]  # parameter name: ctx

PERMISSION = "actions"  # the key of a route handler's opt that names its actions


def permission(*actions: Action) -> dict[str, tuple[Action, ...]]:
    """The roles/ actions a route's service authorizes (one of them, depending on the caller).

    Declared on every route that is not public, as ``opt=permission(...)``: the generated
    authorisation matrix (tests/integration/test_authorization_matrix.py) derives each role's
    expected answer from it and roles/, and fails on a route that declares nothing.
    """
    return {PERMISSION: actions}
