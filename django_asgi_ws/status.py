"""Where a connection stands, and the close codes of RFC 6455 section 7.4 and the IANA
registry, by name."""

from __future__ import annotations

import enum

__all__ = ["CloseCode", "WebSocketState", "is_sendable"]


class CloseCode(enum.IntEnum):
    """The close codes of RFC 6455 and the IANA registry, by name.

    An ``IntEnum``: a member compares equal to its number, so
    ``websocket.close(CloseCode.POLICY_VIOLATION)`` and ``websocket.close(1008)``
    are the same. 1005 and 1006 are only ever reported, never sent.
    """

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RECEIVED = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013


def is_sendable(code: int) -> bool:
    """Whether an endpoint may put *code* in a close frame (RFC 6455, 7.4.1-7.4.2)."""
    if 3000 <= code <= 4999:
        return True
    return 1000 <= code <= 1014 and code not in (1004, 1005, 1006)


class WebSocketState(enum.Enum):
    """Where a connection stands, from the application's point of view."""

    #: The handshake arrived; it is not yet accepted or refused.
    CONNECTING = "connecting"
    #: Accepted: messages flow both ways.
    CONNECTED = "connected"
    #: Closed by either side, or refused: nothing more flows.
    DISCONNECTED = "disconnected"


# Before Python 3.12, reading a member off an Enum class goes through EnumType's
# __getattr__, four times slower than a global: the per-message paths compare
# states against these.
CONNECTING = WebSocketState.CONNECTING
CONNECTED = WebSocketState.CONNECTED
DISCONNECTED = WebSocketState.DISCONNECTED


def not_connected(action: str, state: WebSocketState) -> str:
    """The RuntimeError message for *action* (send, receive) outside CONNECTED."""
    if state is CONNECTING:
        return (
            f"Cannot {action}: expected state CONNECTED, but the connection is "
            "CONNECTING; call accept() first."
        )
    return f"Cannot {action}: expected state CONNECTED, but the connection is {state.name}."
