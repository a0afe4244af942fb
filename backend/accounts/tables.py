"""Accounts, staff scopes, passkeys and refresh tokens."""

from piccolo.columns import Boolean, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from backend.registry.tables import Community, District, Person
from roles import Role


class Account(Table):
    phone = Varchar(length=11, unique=True)
    name = Varchar(length=50)
    role = Varchar(length=20, choices=Role, default=Role.RESIDENT)
    # Unused: an account reaches homes only through Residency.account, never through a person.
    person = ForeignKey(Person, null=True, default=None)
    active = Boolean(default=True)
    # Bumped when access tokens issued so far must stop at once (disabled, role or scopes changed).
    token_version = Integer(default=0)
    created_by = Integer(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class StaffScope(Table):
    """A community (or a whole district) a staff account works in."""

    account = ForeignKey(Account, null=False, index=True)
    community = ForeignKey(Community, null=True, default=None)
    district = ForeignKey(District, null=True, default=None)


class Passkey(Table):
    account = ForeignKey(Account, null=False, index=True)
    credential_id = Varchar(length=400, unique=True)  # base64url
    public_key = Text()  # base64url COSE key
    sign_count = Integer(default=0)
    transports = Varchar(length=200, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class RefreshToken(Table):
    """One row per issued refresh token; a family is one sign-in's rotation chain."""

    account = ForeignKey(Account, null=False, index=True)
    family = Varchar(length=32, index=True)
    # How the family's sign-in was authenticated ("otp" or "passkey"); refreshes keep it.
    amr = Varchar(length=10, default="otp")
    token_hash = Varchar(length=64, unique=True)
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
