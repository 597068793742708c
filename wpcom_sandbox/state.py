"""The sandbox's in-memory state: apps, seeded data, codes, tokens, recorded requests and test hooks.

Every method is thread-safe (one lock); values handed out are immutable snapshots. Site content
(posts, media, comments, ...) lives in `content`, a `ContentStore` with its own lock.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
import string
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from wpcom_sandbox.content import ContentStore
from wpcom_sandbox.content_seed import seed_content
from wpcom_sandbox.data import Site, User, seed_sites, seed_users
from wpcom_sandbox.scopes import Access, access_for, granted_scope, split_scopes, unknown_scopes

CODE_TTL_SECONDS = 600.0
CONSENT_TTL_SECONDS = 3600.0
MAX_RECORDED_REQUESTS = 1000
MAX_PENDING_CONSENTS = 10000
# WordPress.com access tokens are 64 characters including punctuation such as # $ % & ( ), which
# catches clients that forget to URL-encode them; pass string.ascii_letters + string.digits to opt out.
WPCOM_TOKEN_ALPHABET = string.ascii_letters + string.digits + "!#$%&()*@^"
CODE_ALPHABET = string.ascii_letters + string.digits


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass(frozen=True)
class OAuthClient:
    """An app registered with the sandbox."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    name: str


@dataclass(frozen=True)
class AccessToken:
    """An issued bearer token; `blog_id` is 0 for global and auth-only tokens."""

    token: str = field(repr=False)
    client_id: str
    user_id: int
    blog_id: int
    scope: str
    issued_at: float
    code: str | None = field(default=None, repr=False)
    revoked: bool = False

    @property
    def scopes(self) -> list[str]:
        """The granted scopes as a list ("" -> [""], as /me's `token_scope` shows it)."""
        return self.scope.split(",")

    @property
    def access(self) -> Access:
        """What the token reaches."""
        return access_for(split_scopes(self.scope))


@dataclass(frozen=True)
class AuthorizationCode:
    """A code issued at consent, redeemable once at the token endpoint."""

    code: str = field(repr=False)
    client_id: str
    redirect_uri: str
    user_id: int
    blog_id: int
    scope: str
    issued_at: float
    used: bool = False


@dataclass(frozen=True)
class RecordedRequest:
    """A request the sandbox received; Authorization is redacted, and only its fingerprint kept
    (`authorization_fingerprint(value)` of the header's full value, None when absent), so tests can
    tell which token reached the API without the token itself being stored."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float
    auth_fingerprint: str | None = None


def authorization_fingerprint(value: str) -> str:
    """A short, one-way fingerprint of an Authorization header value: the first 16 hex digits of
    its SHA-256 (enough to tell tokens apart, useless for recovering one)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Fault:
    """A canned answer for the next `remaining` requests whose path starts with `path_prefix`."""

    path_prefix: str
    status: int
    body: bytes
    content_type: str
    delay: float
    remaining: int
    headers: tuple[tuple[str, str], ...] = ()


def _redact(name: str, value: str) -> str:
    if name.lower() != "authorization":
        return value
    scheme = value.split(" ", 1)[0] if " " in value else "Bearer"
    return f"{scheme} <redacted>"


@dataclass
class SandboxState:
    """Everything the sandbox knows; lives in memory only. `clock` is injectable for expiry tests."""

    clients: dict[str, OAuthClient] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    clock: Callable[[], float] = time.time
    users: dict[int, User] = field(default_factory=seed_users)
    sites: dict[int, Site] = field(default_factory=seed_sites)
    content: ContentStore = field(default_factory=seed_content)
    token_alphabet: str = WPCOM_TOKEN_ALPHABET
    code_ttl: float = CODE_TTL_SECONDS
    _consents: dict[str, tuple[tuple[tuple[str, str], ...], float]] = field(
        default_factory=dict, init=False, repr=False
    )
    _codes: dict[str, AuthorizationCode] = field(default_factory=dict, init=False, repr=False)
    _tokens: dict[str, AccessToken] = field(default_factory=dict, init=False, repr=False)
    _recorded: deque[RecordedRequest] = field(
        default_factory=lambda: deque(maxlen=MAX_RECORDED_REQUESTS), init=False, repr=False
    )
    _faults: list[Fault] = field(default_factory=list, init=False, repr=False)

    # --- apps -----------------------------------------------------------------------------------

    def register_client(self, name: str, redirect_uri: str) -> OAuthClient:
        """Register an app, WordPress.com style (numeric id, long random secret)."""
        client = OAuthClient(
            client_id=str(10000 + secrets.randbelow(90000)),
            client_secret=secrets.token_urlsafe(48),
            redirect_uri=redirect_uri,
            name=name,
        )
        with self.lock:
            self.clients[client.client_id] = client
        return client

    def client(self, client_id: str | None) -> OAuthClient | None:
        """A registered app by id."""
        with self.lock:
            return self.clients.get(client_id or "")

    # --- seeded data ------------------------------------------------------------------------------

    def find_user(self, ref: int | str | None) -> User | None:
        """A user by numeric ID or username."""
        text = str(ref or "").strip()
        with self.lock:
            if text.isdigit():
                return self.users.get(int(text))
            return next((user for user in self.users.values() if user.username == text), None)

    def find_site(self, ref: int | str | None) -> Site | None:
        """A site by numeric ID, domain or URL."""
        text = str(ref or "").strip()
        with self.lock:
            if text.isdigit():
                return self.sites.get(int(text))
            domain = text.split("://", 1)[-1].split("/", 1)[0].lower()
            return next((site for site in self.sites.values() if site.domain == domain), None)

    def all_users(self) -> list[User]:
        """Every seeded user, by ID."""
        with self.lock:
            return sorted(self.users.values(), key=lambda user: user.user_id)

    def sites_of(self, user_id: int) -> list[Site]:
        """The sites a user owns, by ID."""
        with self.lock:
            return sorted((s for s in self.sites.values() if s.owner_id == user_id), key=lambda s: s.site_id)

    # --- consent forms ----------------------------------------------------------------------------

    def create_consent(self, params: Mapping[str, str]) -> str:
        """Remember the parameters a consent page was rendered for; returns its single-use form token."""
        nonce = secrets.token_urlsafe(24)
        now = self.clock()
        with self.lock:
            for key in [key for key, (_, expires) in self._consents.items() if expires <= now]:
                del self._consents[key]
            while len(self._consents) >= MAX_PENDING_CONSENTS:
                del self._consents[next(iter(self._consents))]
            self._consents[nonce] = (tuple(sorted(params.items())), now + CONSENT_TTL_SECONDS)
        return nonce

    def take_consent(self, nonce: str | None) -> dict[str, str] | None:
        """The parameters bound to a form token, consuming it; None if unknown, used or expired."""
        with self.lock:
            entry = self._consents.pop(nonce or "", None)
        if entry is None or entry[1] <= self.clock():
            return None
        return dict(entry[0])

    # --- codes and tokens -------------------------------------------------------------------------

    def issue_code(self, client_id: str, redirect_uri: str, user_id: int, blog_id: int, scope: str) -> str:
        """Issue an authorization code for an approved consent."""
        code = _random(CODE_ALPHABET, 10)
        now = self.clock()
        with self.lock:
            for key in [key for key, entry in self._codes.items() if entry.issued_at + 6 * self.code_ttl < now]:
                del self._codes[key]
            self._codes[code] = AuthorizationCode(code, client_id, redirect_uri, user_id, blog_id, scope, now)
        return code

    def redeem_code(self, client_id: str, code: str, redirect_uri: str) -> AccessToken | str:
        """Exchange a code for a token, or say why not (an `invalid_grant` description).

        A second use of a code revokes every token issued from it (RFC 6749 section 4.1.2).
        """
        now = self.clock()
        with self.lock:
            entry = self._codes.get(code)
            if entry is None:
                return "Unknown authorization code."
            if entry.client_id != client_id:
                return "The authorization code was issued to another client."
            if entry.used:
                for key, token in self._tokens.items():
                    if token.code == code:
                        self._tokens[key] = dataclasses.replace(token, revoked=True)
                return "The authorization code has already been used."
            if now - entry.issued_at > self.code_ttl:
                return "The authorization code has expired."
            if entry.redirect_uri != redirect_uri:
                return "The redirect_uri does not match the one used to request the authorization code."
            self._codes[code] = dataclasses.replace(entry, used=True)
            return self._new_token_locked(client_id, entry.user_id, entry.blog_id, entry.scope, code)

    def _new_token_locked(
        self, client_id: str, user_id: int, blog_id: int, scope: str, code: str | None
    ) -> AccessToken:
        token = AccessToken(_random(self.token_alphabet, 64), client_id, user_id, blog_id, scope, self.clock(), code)
        self._tokens[token.token] = token
        return token

    def issue_token(
        self, client_id: str, user: int | str, site: int | str | None = None, scope: str = ""
    ) -> AccessToken:
        """Test hook: a token as if `user` had approved `client_id` (site defaults to the primary blog)."""
        if self.client(client_id) is None:
            raise ValueError("unknown client_id")
        scopes = split_scopes(scope)
        if unknown_scopes(scopes):
            raise ValueError("unknown scope")
        owner = self.find_user(user)
        if owner is None:
            raise ValueError("unknown user")
        blog_id = 0
        if access_for(scopes) is Access.SITE:
            chosen = self.find_site(site if site is not None else owner.primary_blog)
            if chosen is None or chosen.owner_id != owner.user_id:
                raise ValueError("site not owned by user")
            blog_id = chosen.site_id
        with self.lock:
            return self._new_token_locked(client_id, owner.user_id, blog_id, granted_scope(scopes), None)

    def token(self, value: str) -> AccessToken | None:
        """An issued token (revoked ones included) by its value."""
        with self.lock:
            return self._tokens.get(value)

    def revoke_token(self, token: str) -> bool:
        """Test hook: revoke a token, as if the user disconnected the app; False if unknown."""
        with self.lock:
            entry = self._tokens.get(token)
            if entry is None:
                return False
            self._tokens[token] = dataclasses.replace(entry, revoked=True)
            return True

    def issued_tokens(self) -> list[AccessToken]:
        """Test hook: every token issued so far, oldest first (revoked ones flagged)."""
        with self.lock:
            return list(self._tokens.values())

    # --- request recording and fault injection ----------------------------------------------------

    def record(self, method: str, path: str, query: Mapping[str, list[str]], headers: Mapping[str, str]) -> None:
        """Remember a received request (Authorization redacted, its fingerprint kept); keeps the last 1000."""
        entry = RecordedRequest(
            method=method,
            path=path,
            query={name: values[0] for name, values in query.items() if values},
            headers={name: _redact(name, value) for name, value in headers.items()},
            at=self.clock(),
            auth_fingerprint=next(
                (authorization_fingerprint(v) for name, v in headers.items() if name.lower() == "authorization"), None
            ),
        )
        with self.lock:
            self._recorded.append(entry)

    def recorded_requests(self, path_prefix: str = "") -> list[RecordedRequest]:
        """Test hook: recorded requests, oldest first, optionally only those under a path prefix."""
        with self.lock:
            return [entry for entry in self._recorded if entry.path.startswith(path_prefix)]

    def clear_recorded_requests(self) -> None:
        """Test hook: forget recorded requests."""
        with self.lock:
            self._recorded.clear()

    def fail_next(
        self,
        path_prefix: str,
        status: int,
        body: str | bytes | dict[str, Any] | list[Any] = b"",
        content_type: str = "application/json",
        delay: float = 0.0,
        count: int = 1,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Test hook: answer the next `count` requests under `path_prefix` with this canned response.

        `body` may be bytes, text or a JSON value; `delay` seconds pass before the answer (a hang);
        `headers` are added to it (e.g. Retry-After, Set-Cookie).
        """
        if isinstance(body, str):
            payload = body.encode("utf-8")
        elif isinstance(body, bytes):
            payload = body
        else:
            payload = json.dumps(body).encode("utf-8")
        with self.lock:
            self._faults.append(
                Fault(path_prefix, status, payload, content_type, delay, count, tuple((headers or {}).items()))
            )

    def take_fault(self, path: str) -> Fault | None:
        """The first pending fault matching `path`, counting one use of it."""
        with self.lock:
            for index, fault in enumerate(self._faults):
                if path.startswith(fault.path_prefix):
                    if fault.remaining <= 1:
                        del self._faults[index]
                    else:
                        self._faults[index] = dataclasses.replace(fault, remaining=fault.remaining - 1)
                    return fault
        return None

    def clear_faults(self) -> None:
        """Test hook: drop pending faults."""
        with self.lock:
            self._faults.clear()
