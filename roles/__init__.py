"""Who may do what, where, and see which fields. No permission logic lives elsewhere."""

from roles.matrix import (
    Action,
    Forbidden,
    Principal,
    Role,
    Target,
    allowed_actions,
    authorize,
    authorize_any,
    is_allowed,
)
from roles.projections import Viewer, project_person, sections_for, viewer_for

__all__ = [
    "Action",
    "Forbidden",
    "Principal",
    "Role",
    "Target",
    "Viewer",
    "allowed_actions",
    "authorize",
    "authorize_any",
    "is_allowed",
    "project_person",
    "sections_for",
    "viewer_for",
]
