"""The connection's state machine: states, and the table of legal transitions.

Every ASGI message the application sends or receives is an event. The table
maps (state, message type) to the next state; a pair not in it is illegal.
Send and receive message types are disjoint, so one table serves both. All
state changes go through WebSocket._set_state, which also derives the two
flags the hot path reads instead of the enum.
"""

from __future__ import annotations

import enum


class State(enum.Enum):
    """Where a connection is in its life, as fastware's state machine tracks it."""

    #: Nothing received yet; websocket.connect is the first message.
    CONNECTING = "CONNECTING"
    #: websocket.connect received: the app must accept, close or deny.
    HANDSHAKE = "HANDSHAKE"
    #: Accepted: data flows both ways.
    CONNECTED = "CONNECTED"
    #: A denial response was started and its body is being sent.
    RESPONSE = "RESPONSE"
    #: The app sent websocket.close (or finished a denial); the disconnect may still be received.
    CLOSED = "CLOSED"
    #: The server's send() failed (OSError): the client is gone, but its websocket.disconnect, with the
    #: real close code, is still to be received. close_code reads 1006 until it is.
    LOST = "LOST"
    #: The server reported websocket.disconnect, or its send() failed: nothing more may be sent.
    DISCONNECTED = "DISCONNECTED"


S = State
TRANSITIONS: dict[tuple[State, str], State] = {
    (S.CONNECTING, "websocket.connect"): S.HANDSHAKE,
    (S.HANDSHAKE, "websocket.accept"): S.CONNECTED,
    (S.HANDSHAKE, "websocket.close"): S.CLOSED,
    (S.HANDSHAKE, "websocket.http.response.start"): S.RESPONSE,
    (S.HANDSHAKE, "websocket.disconnect"): S.DISCONNECTED,
    # The body with more_body=False ends the response; WebSocket moves on to CLOSED itself.
    (S.RESPONSE, "websocket.http.response.body"): S.RESPONSE,
    (S.RESPONSE, "websocket.disconnect"): S.DISCONNECTED,
    (S.CONNECTED, "websocket.send"): S.CONNECTED,
    (S.CONNECTED, "websocket.receive"): S.CONNECTED,
    (S.CONNECTED, "websocket.close"): S.CLOSED,
    (S.CONNECTED, "websocket.disconnect"): S.DISCONNECTED,
    # Frames the client sent before it saw our close frame still arrive.
    (S.CLOSED, "websocket.receive"): S.CLOSED,
    (S.CLOSED, "websocket.disconnect"): S.DISCONNECTED,
    # Frames the client sent before it left, then its disconnect with the real code, are still queued.
    (S.LOST, "websocket.receive"): S.LOST,
    (S.LOST, "websocket.disconnect"): S.DISCONNECTED,
}

#: Where a failed send (the server's send() raised OSError: the client is gone) leads from each state.
#: Not a message, so not in TRANSITIONS; the state still never moves backwards (CLOSED stays CLOSED).
CONNECTION_LOST: dict[State, State] = {
    S.CONNECTING: S.LOST,
    S.HANDSHAKE: S.LOST,
    S.CONNECTED: S.LOST,
    S.RESPONSE: S.LOST,
    S.CLOSED: S.CLOSED,
    S.LOST: S.LOST,
    S.DISCONNECTED: S.DISCONNECTED,
}

#: Why a call is refused in each state, for WebSocketStateError.
HINTS: dict[State, str] = {
    S.CONNECTING: "call accept() first",
    S.HANDSHAKE: "call accept() first",
    S.CONNECTED: "the connection is already accepted",
    S.RESPONSE: "a denial response is being sent",
    S.CLOSED: "close() was already called",
    S.LOST: "the client has disconnected",
    S.DISCONNECTED: "the client has disconnected",
}

#: States in which data frames may be received.
DATA_RECEIVE_STATES = frozenset({S.CONNECTED, S.CLOSED, S.LOST, S.DISCONNECTED})

#: States in which the client is known to be gone: a send raises WebSocketDisconnect, close() does nothing.
GONE_STATES = frozenset({S.LOST, S.DISCONNECTED})
