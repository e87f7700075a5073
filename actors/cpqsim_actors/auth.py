"""Who is calling the gateway: bearer tokens mapped to principals, and what each may do.

Before this, "who" was a field of the request body: anyone who wrote
``"role": "finance_director"`` approved a 50 % discount, and anyone listed every
account's quotes. Now every request except ``/health`` and the docs carries
``Authorization: Bearer <token>``; the token names a :class:`~cpqsim.principals.Principal`
(id, roles, accounts), and that principal is the actor of every command. A body may still
*name* an approver or a role, but only to say which of the caller's own roles it acts
under: naming somebody else, or a role the caller does not hold, is a 403.

Tokens come from a principals file (YAML, validated here) that stores only their sha256,
so the file can be read without learning a token. ``cpqsim serve`` without a file uses
:data:`DEMO_PRINCIPALS`, whose tokens are public on purpose: they exist so a local demo
and the Locust suite work out of the box, and ``serve`` refuses them off loopback.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import yaml
from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cpqsim.principals import Principal, principal_key, same_principal
from cpqsim_actors.http_errors import error_doc, error_response

# Routes anyone may call: liveness and the documentation (its assets are a mount).
OPEN_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})

# What each kind of action needs: the caller must hold one of these roles. Lifecycle rules
# as data; the domain still judges the finer grain (approval rank, repair authority).
SELLING_ROLES = frozenset({"seller", "sales_manager"})
APPROVING_ROLES = frozenset({"sales_manager", "finance_director"})
OPERATING_ROLES = frozenset({"operations", "operations_lead"})
POLICY_ROLES = frozenset({"finance_director", "policy_admin"})
ACTION_ROLES: dict[str, frozenset[str]] = {
    "quote.create": SELLING_ROLES,
    "quote.price": SELLING_ROLES,
    "quote.submit": SELLING_ROLES,
    "quote.revise": SELLING_ROLES,
    "quote.present": SELLING_ROLES,
    "quote.accept": SELLING_ROLES,
    "quote.cancel": SELLING_ROLES,
    "quote.convert": SELLING_ROLES,
    "quote.approve": APPROVING_ROLES,
    "quote.reject": APPROVING_ROLES,
    "order.create": SELLING_ROLES,
    "order.cancel.customer": SELLING_ROLES,
    "order.cancel.operations": OPERATING_ROLES,
    "policy.approval.put": POLICY_ROLES,
}

TOKEN_HASH = r"^[0-9a-f]{64}$"


def token_hash(token: str) -> str:
    """What a principals file stores for ``token``: its sha256, in hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe) for a principals file's owner to hand out."""
    return secrets.token_urlsafe(32)


# ------------------------------------------------------------------ the principals file


class PrincipalEntry(BaseModel):
    """One principal of the file: who, with which roles, on which accounts, and the token."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=100)
    roles: list[str] = Field(min_length=1, max_length=20)
    accounts: list[str] | None = Field(
        default=None,
        max_length=100_000,
        description="accounts this principal may see and act on; omitted: every account",
    )
    token_sha256: str = Field(
        pattern=TOKEN_HASH, description="sha256 of the bearer token, 64 lowercase hex digits"
    )

    def principal(self) -> Principal:
        return Principal(
            id=self.id,
            roles=frozenset(self.roles),
            accounts=None if self.accounts is None else frozenset(self.accounts),
        )


class PrincipalsFile(BaseModel):
    """The whole file: ``principals:`` a list; ids unique under any spelling, tokens unique."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    principals: list[PrincipalEntry] = Field(min_length=1, max_length=100_000)

    @model_validator(mode="after")
    def _unique(self) -> PrincipalsFile:
        ids: dict[str, int] = {}
        hashes: dict[str, int] = {}
        for i, entry in enumerate(self.principals):
            key = principal_key(entry.id)
            if not key:
                raise ValueError(f"principals[{i}].id: a principal id must not be blank")
            if key in ids:
                raise ValueError(
                    f"principals[{i}].id: {entry.id!r} is principals[{ids[key]}] again "
                    "(ids are compared trimmed, case-folded, NFKC)"
                )
            if entry.token_sha256 in hashes:
                raise ValueError(
                    f"principals[{i}].token_sha256: the same token as principals"
                    f"[{hashes[entry.token_sha256]}] (one token, one principal)"
                )
            ids[key] = i
            hashes[entry.token_sha256] = i
        return self


class PrincipalsFileInvalid(ValueError):
    """The principals file cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class PrincipalDirectory:
    """Token hash -> principal: the gateway's only source of who is calling."""

    by_token_hash: dict[str, Principal]
    source: str

    def authenticate(self, token: str) -> Principal | None:
        return self.by_token_hash.get(token_hash(token))

    @property
    def principals(self) -> list[Principal]:
        return sorted(self.by_token_hash.values(), key=lambda p: p.id)


def directory_of(entries: Iterable[PrincipalEntry], source: str) -> PrincipalDirectory:
    return PrincipalDirectory({e.token_sha256: e.principal() for e in entries}, source)


def _field(loc: tuple) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def load_principals(path: Path) -> PrincipalDirectory:
    """The principals of ``path``, or :class:`PrincipalsFileInvalid` saying where and why."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PrincipalsFileInvalid(f"{path}: cannot read the principals file ({exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PrincipalsFileInvalid(f"{path}: not valid YAML ({exc})") from None
    try:
        parsed = PrincipalsFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _field(tuple(first.get("loc", ())))
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise PrincipalsFileInvalid(f"{path}: {where}: {first['msg']}{more}") from None
    return directory_of(parsed.principals, str(path))


# ------------------------------------------------------------------ demo principals


@dataclass(frozen=True)
class DemoPrincipal:
    token: str
    principal: Principal


def _demo(token: str, pid: str, roles: set[str], accounts: set[str] | None) -> DemoPrincipal:
    frozen = None if accounts is None else frozenset(accounts)
    return DemoPrincipal(token, Principal(id=pid, roles=frozenset(roles), accounts=frozen))


# Public on purpose (README, Locust): for a local demo only; serve refuses them off loopback.
DEMO_PRINCIPALS: tuple[DemoPrincipal, ...] = (
    _demo("demo-seller-alice", "alice", {"seller"}, {"acct-0001", "acct-0002"}),
    _demo("demo-seller-dave", "dave", {"seller"}, {"acct-0003"}),
    _demo("demo-manager-bob", "bob", {"sales_manager"}, {"acct-0001", "acct-0002", "acct-0003"}),
    _demo("demo-finance-carol", "carol", {"finance_director"}, None),
    _demo("demo-operations-olga", "olga", {"operations_lead"}, None),
)


def demo_directory() -> PrincipalDirectory:
    return PrincipalDirectory(
        {token_hash(d.token): d.principal for d in DEMO_PRINCIPALS}, "built-in demo principals"
    )


def demo_banner() -> str:
    """What ``serve`` prints at start-up when it runs with the demo principals."""
    rows = [
        f"  {d.principal.id:<6} {','.join(sorted(d.principal.roles)):<28} "
        f"{','.join(sorted(d.principal.accounts)) if d.principal.accounts else 'all accounts':<30}"
        f" Authorization: Bearer {d.token}"
        for d in DEMO_PRINCIPALS
    ]
    return "\n".join(
        [
            "DEMO principals (local use only; pass --principals FILE for real ones):",
            *rows,
        ]
    )


# ------------------------------------------------------------------ the gateway's door


class Unauthenticated(Exception):
    """No token, or a token nobody holds: a 401 that asks for a bearer token."""


class Forbidden(Exception):
    """An authenticated principal asked for what it may not do: a 403."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="opaque token",
    description="a token from the principals file (`cpqsim serve` prints demo tokens)",
)


async def _authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    """The caller, for every route but the open ones (an app-wide dependency)."""
    if request.url.path in OPEN_PATHS:
        return None
    if credentials is None:
        raise Unauthenticated("this request needs Authorization: Bearer <token>")
    principal = request.app.state.principals.authenticate(credentials.credentials)
    if principal is None:
        raise Unauthenticated("the bearer token is not known")
    return principal


async def _caller(principal: Annotated[Principal | None, Depends(_authenticated)]) -> Principal:
    if principal is None:  # an open route asked for the caller: a wiring mistake
        raise Unauthenticated("this request needs Authorization: Bearer <token>")
    return principal


Caller = Annotated[Principal, Depends(_caller)]
"""A route parameter of this type is the authenticated principal (dependency cached per request)."""

AUTHENTICATION = Depends(_authenticated)


def install_authentication(app: FastAPI, principals: PrincipalDirectory) -> None:
    """Give ``app`` its principals and the 401/403 answers (TMF Error bodies).

    Create the app with ``dependencies=[AUTHENTICATION]`` so that every route, present
    and future, is closed unless it is listed in :data:`OPEN_PATHS`.
    """
    app.state.principals = principals

    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(_request: Request, exc: Unauthenticated):
        return error_response(
            401, "unauthenticated", str(exc), headers={"WWW-Authenticate": "Bearer"}
        )

    @app.exception_handler(Forbidden)
    async def _forbidden(_request: Request, exc: Forbidden):
        return error_response(403, exc.code, exc.message)


def document_authentication(app: FastAPI) -> None:
    """Declare the 401 on every closed operation, and no security on the open ones (call
    once every route is added)."""
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path not in OPEN_PATHS:
            route.responses.setdefault(401, error_doc(401)[401])
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            document = generate()
            for path in OPEN_PATHS:
                for operation in document.get("paths", {}).get(path, {}).values():
                    operation["security"] = []
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# ------------------------------------------------------------------ decisions at the door


def require(principal: Principal, action: str) -> None:
    """403 unless ``principal`` holds a role that ``action`` needs."""
    needed = ACTION_ROLES[action]
    if not any(principal.has_role(role) for role in needed):
        raise Forbidden(
            "role_required",
            f"{action} needs one of the roles {', '.join(sorted(needed))}; "
            f"{principal.id} holds {', '.join(sorted(principal.roles)) or 'none'}",
        )


def same_as_caller(principal: Principal, named: str | None, field: str) -> None:
    """A body that names its actor must name the caller (under any spelling): else 403."""
    if named is not None and not same_principal(named, principal.id):
        raise Forbidden(
            "not_the_caller",
            f"{field}: not the authenticated principal {principal.id!r}; "
            "the actor of a request is always its bearer",
        )


def acting_role(principal: Principal, claimed: str | None, eligible: Iterable[str]) -> str:
    """The role the caller acts under: the one it names (it must hold it), or else its
    only role among ``eligible`` (or its only role at all)."""
    if claimed is not None:
        if not principal.has_role(claimed):
            raise Forbidden(
                "role_not_held",
                f"role: {principal.id} does not hold that role "
                f"(holds {', '.join(sorted(principal.roles)) or 'none'})",
            )
        wanted = claimed.strip().casefold()
        return next(r for r in sorted(principal.roles) if r.strip().casefold() == wanted)
    wanted = {r.casefold() for r in eligible}
    candidates = sorted(r for r in principal.roles if r.casefold() in wanted)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates and len(principal.roles) == 1:
        return next(iter(principal.roles))  # the domain judges (and may record) the refusal
    raise Forbidden(
        "role_ambiguous",
        f"role: {principal.id} holds {', '.join(sorted(principal.roles))}; name the one "
        "this request acts under",
    )
