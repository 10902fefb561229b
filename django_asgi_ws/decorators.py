"""Access control for websocket views, named after Django's auth decorators.

A view that fails the test is refused before its code runs: the handshake is
answered with HTTP 403 (browsers see a failed connection). There is no
redirect to a login page, which a websocket could not follow.

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
from typing import Any, TypeVar, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.core.exceptions import PermissionDenied

from django_asgi_ws.websocket import WebSocket

View = TypeVar("View", bound=Callable[..., Any])
UserTest = Callable[[Any], "bool | Awaitable[bool]"]

__all__ = ["login_required", "permission_required", "user_passes_test"]


def user_passes_test(test_func: UserTest) -> Callable[[View], View]:
    """Refuse the handshake (403) unless ``test_func(user)`` is true.

    *test_func* may be sync (run in the connection's thread, so it may query
    the database) or async.
    """

    async def check(websocket: WebSocket) -> None:
        user = await websocket.auser()
        if iscoroutinefunction(test_func):
            passed = await test_func(user)
        else:
            passed = await sync_to_async(test_func)(user)
        if not passed:
            raise PermissionDenied

    def decorator(view: View) -> View:
        return _apply(view, check)

    return decorator


def login_required(view: View) -> View:
    """Refuse the handshake (403) unless the user is logged in."""
    return user_passes_test(_is_authenticated)(view)


def permission_required(perm: str | Iterable[str]) -> Callable[[View], View]:
    """Refuse the handshake (403) unless the user has every permission in *perm*."""
    perms = (perm,) if isinstance(perm, str) else tuple(perm)

    def has_perms(user: Any) -> bool:
        return bool(user.has_perms(perms))

    return user_passes_test(has_perms)


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

    return cast(View, markcoroutinefunction(checked_view))


def _wrap_class(cls: type[Any], check: Check) -> type[Any]:
    """Run *check* first in ``dispatch``, before ``on_connect``; the class is changed in place."""
    dispatch = cls.dispatch

    @functools.wraps(dispatch)
    async def checked_dispatch(self: Any, websocket: WebSocket) -> None:
        await check(websocket)
        await dispatch(self, websocket)

    cls.dispatch = checked_dispatch
    return cls
