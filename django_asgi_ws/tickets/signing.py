"""Tickets: signed, short-lived proofs of a user's identity, issued without a database write.

A ticket is a ``TimestampSigner`` value of the user's primary key, the first
digits of the user's session auth hash (a password change voids it, as it
logs the user's sessions out) and, for a single-use ticket, a random nonce.
It is readable by whoever holds it, like a signed cookie, and carries nothing
secret. The separator is ``.``, so a ticket is only ``A-Za-z0-9-_.``: an HTTP
token, valid in a ``Sec-WebSocket-Protocol`` value and in a URL as it is.
"""

from __future__ import annotations

import enum
import math
import re
import secrets
from typing import Any

from django.core import signing
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.utils.crypto import constant_time_compare

from django_asgi_ws.conf import get_settings

SALT = "django_asgi_ws.tickets"
#: Long enough that a collision between two hashes is out of reach, short
#: enough to keep the ticket short.
HASH_DIGITS = 20
#: Far more than any ticket issued here; a longer value is not parsed.
MAX_LENGTH = 1024
SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[0-9A-Za-z]+\.[A-Za-z0-9_-]+")
NONCE_KEY_PREFIX = "django_asgi_ws.ticket."


class Reason(enum.Enum):
    """Why a ticket was refused; the value is what the security log says."""

    MALFORMED = "the ticket is malformed"
    FORGED = "the ticket's signature is wrong (forged, or signed with another SECRET_KEY)"
    EXPIRED = "the ticket expired (WEBSOCKET_TICKET_MAX_AGE)"
    REUSED = "the single-use ticket was already used"
    USER_GONE = "the ticket's user no longer exists"
    USER_INACTIVE = "the ticket's user is inactive"
    PASSWORD_CHANGED = "the ticket's user changed password since it was issued"
    SEVERAL = "more than one ticket was presented"


class InvalidTicket(Exception):
    """A ticket that authenticates no one; :attr:`reason` says why."""

    def __init__(self, reason: Reason, user_pk: str | None = None) -> None:
        super().__init__(reason.value + (f" (user pk {user_pk})" if user_pk is not None else ""))
        #: A :class:`Reason`.
        self.reason = reason
        #: The user's primary key as the ticket holds it, once the signature is verified.
        self.user_pk = user_pk


def issue_ticket(user: Any, *, single_use: bool = False) -> str:
    """A ticket for *user*, valid for WEBSOCKET_TICKET_MAX_AGE seconds.

    A *single_use* ticket is accepted once (through WEBSOCKET_TICKET_CACHE,
    which every server process must share); ImproperlyConfigured if that
    cache is a DummyCache, which would accept it every time. ValueError for
    an anonymous user.
    """
    if not getattr(user, "is_authenticated", False):
        raise ValueError(f"Cannot issue a ticket for {user!r}: the user is not authenticated.")
    if single_use:
        single_use_cache()
    payload = [user._meta.pk.value_to_string(user), _hash_digits(user)]
    if single_use:
        payload.append(secrets.token_urlsafe(12))
    return _signer().sign_object(payload)


def verify_ticket(ticket: str) -> Any:
    """The active user *ticket* was issued for; raises :exc:`InvalidTicket` otherwise.

    Sync: it queries the database, and marks a single-use ticket as used.
    """
    if not isinstance(ticket, str) or len(ticket) > MAX_LENGTH or not SHAPE.fullmatch(ticket):
        raise InvalidTicket(Reason.MALFORMED)
    max_age = get_settings().ticket_max_age
    try:
        payload = _signer().unsign_object(ticket, max_age=max_age)
    except signing.SignatureExpired:
        raise InvalidTicket(Reason.EXPIRED) from None
    except signing.BadSignature:
        raise InvalidTicket(Reason.FORGED) from None
    if (
        not isinstance(payload, list)
        or len(payload) not in (2, 3)
        or not all(isinstance(part, str) for part in payload)
    ):
        raise InvalidTicket(Reason.MALFORMED)
    user_pk, hash_digits, *nonce = payload
    user = _load_user(user_pk)
    if not constant_time_compare(hash_digits, _hash_digits(user)) and not any(
        constant_time_compare(hash_digits, fallback[:HASH_DIGITS])
        for fallback in _fallback_hashes(user)
    ):
        raise InvalidTicket(Reason.PASSWORD_CHANGED, user_pk)
    # add() is atomic: of two handshakes with one ticket, one only is first. The
    # nonce need not be remembered longer than the ticket lives.
    if nonce and not single_use_cache().add(NONCE_KEY_PREFIX + nonce[0], 1, math.ceil(max_age)):
        raise InvalidTicket(Reason.REUSED, user_pk)
    return user


def single_use_cache() -> Any:
    """The cache of WEBSOCKET_TICKET_CACHE; ImproperlyConfigured for a DummyCache."""
    from django.core.cache import caches
    from django.core.cache.backends.dummy import DummyCache

    alias = get_settings().ticket_cache
    cache = caches[alias]
    if isinstance(cache, DummyCache):
        raise ImproperlyConfigured(
            f"WEBSOCKET_TICKET_CACHE {alias!r} is a DummyCache, which stores nothing, so "
            "it cannot tell a single-use ticket already used: point it at a cache that "
            "every server process shares (django_asgi_ws.W034)."
        )
    return cache


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SALT, sep=".")


def _load_user(user_pk: str) -> Any:
    """The ticket's user, refused as ModelBackend refuses an inactive one."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    try:
        user = user_model._default_manager.get(pk=user_model._meta.pk.to_python(user_pk))
    except (user_model.DoesNotExist, ValidationError, ValueError):
        raise InvalidTicket(Reason.USER_GONE, user_pk) from None
    is_active = getattr(user, "is_active", None)
    if not (is_active or is_active is None):
        raise InvalidTicket(Reason.USER_INACTIVE, user_pk)
    return user


def _hash_digits(user: Any) -> str:
    get_hash = getattr(user, "get_session_auth_hash", None)
    return get_hash()[:HASH_DIGITS] if get_hash is not None else ""


def _fallback_hashes(user: Any) -> Any:
    """The hashes under SECRET_KEY_FALLBACKS, as Django's get_user() accepts them."""
    get_hashes = getattr(user, "get_session_auth_fallback_hash", None)
    return get_hashes() if get_hashes is not None else ()
