"""Access control for websocket views, named after Django's auth decorators.

A view that fails the test is refused before its code runs: the handshake is
answered with HTTP 403. There is no redirect to a login page, which a
websocket could not follow.

A browser cannot tell a refused handshake from a server that is down: both
close with 1006. Given a ``close_code`` (3000-4999 for an application's own,
such as 4401), a decorator accepts the handshake instead and closes at once
with that code and ``reason``, which the page's ``close`` event shows::

    @login_required(close_code=4401, reason="Log in to chat.")
    async def chat(websocket): ...

Each decorator takes an async function view or a :class:`WebSocketView`
subclass (or the function ``as_view()`` returns)::

    @login_required
    async def chat(websocket): ...

    @permission_required("polls.view_poll")
    class PollView(WebSocketView): ...
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar, cast, overload

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.core.exceptions import PermissionDenied

from django_asgi_ws.exceptions import WebSocketException, validate_close
from django_asgi_ws.websocket import WebSocket

View = TypeVar("View", bound=Callable[..., Any])
UserTest = Callable[[Any], "bool | Awaitable[bool]"]

__all__ = ["login_required", "permission_required", "user_passes_test"]


def user_passes_test(
    test_func: UserTest, *, close_code: int | None = None, reason: str = ""
) -> Callable[[View], View]:
    """Refuse the handshake (403) unless ``test_func(user)`` is true.

    *test_func* may be sync (run in the connection's thread, so it may query
    the database) or async. With *close_code*, the handshake is accepted and
    closed at once with *close_code* and *reason* instead (ValueError at
    decoration if the code is not one an application may send).
    """
    if close_code is not None:
        validate_close(close_code, reason)

    async def check(websocket: WebSocket) -> None:
        user = await websocket.auser()
        if iscoroutinefunction(test_func):
            passed = await test_func(user)
        else:
            passed = await sync_to_async(test_func)(user)
        if passed:
            return
        if close_code is None:
            raise PermissionDenied
        await websocket.accept()
        raise WebSocketException(close_code, reason)

    def decorator(view: View) -> View:
        return _apply(view, check)

    return decorator


@overload
def login_required(view: View, /) -> View: ...


@overload
def login_required(
    *, close_code: int | None = None, reason: str = ""
) -> Callable[[View], View]: ...


def login_required(
    view: View | None = None, /, *, close_code: int | None = None, reason: str = ""
) -> View | Callable[[View], View]:
    """Refuse the handshake (403) unless the user is logged in.

    Used bare (``@login_required``) or with the options of
    :func:`user_passes_test` (``@login_required(close_code=4401)``).
    """
    decorator = user_passes_test(_is_authenticated, close_code=close_code, reason=reason)
    return decorator if view is None else decorator(view)


def permission_required(
    perm: str | Iterable[str], *, close_code: int | None = None, reason: str = ""
) -> Callable[[View], View]:
    """Refuse the handshake (403) unless the user has every permission in *perm*.

    *close_code* and *reason* as for :func:`user_passes_test`.
    """
    perms = (perm,) if isinstance(perm, str) else tuple(perm)

    def has_perms(user: Any) -> bool:
        return bool(user.has_perms(perms))

    return user_passes_test(has_perms, close_code=close_code, reason=reason)


async def _is_authenticated(user: Any) -> bool:
    return bool(user.is_authenticated)  # no query: async spares a thread switch


Check = Callable[[WebSocket], Awaitable[None]]


def _apply(view: View, check: Check) -> View:
    from django_asgi_ws.views import WebSocketView

    if isinstance(view, type):
        if not issubclass(view, WebSocketView):
            raise TypeError(
                f"{view.__name__} is not a WebSocketView subclass; these decorators take "
                "async function views and WebSocketView classes."
            )
        return cast(View, _wrap_class(view, check))
    if not iscoroutinefunction(view):
        raise TypeError(
            f"{getattr(view, '__qualname__', view)!r} is not an async function: websocket "
            "views are declared with 'async def'."
        )

    @functools.wraps(view)
    async def checked_view(websocket: WebSocket, *args: Any, **kwargs: Any) -> Any:
        await check(websocket)
        return await view(websocket, *args, **kwargs)

    return cast(View, checked_view)


def _wrap_class(cls: type[Any], check: Check) -> type[Any]:
    """Run *check* first in ``dispatch``, before ``on_connect``; the class is changed in place."""
    dispatch = cls.dispatch

    @functools.wraps(dispatch)
    async def checked_dispatch(self: Any, websocket: WebSocket) -> None:
        await check(websocket)
        await dispatch(self, websocket)

    cls.dispatch = checked_dispatch
    return cls
