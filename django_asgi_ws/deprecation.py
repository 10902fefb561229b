"""Old names kept importable for a while, with a DeprecationWarning naming the new one."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any


def renamed(module_name: str, **old_names: Any) -> Callable[[str], Any]:
    """A module ``__getattr__`` that answers each old name with its renamed object.

    ``__getattr__ = renamed(__name__, ASGIHandler=WebSocketApplication)`` makes
    ``from module import ASGIHandler`` warn, then give ``WebSocketApplication``.
    """

    def __getattr__(name: str) -> Any:
        if name in old_names:
            new = old_names[name]
            warnings.warn(
                f"{module_name}.{name} is now {new.__name__}.", DeprecationWarning, stacklevel=2
            )
            return new
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}")

    return __getattr__
