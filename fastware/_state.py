"""The connection's state machine: states, transitions and their special cases.

Nothing here is written by hand: the schema states it (x-fastware-states at
its root; x-fastware-transitions and the other x-fastware- annotations on each
message) and `python -m codegen` writes fastware._generated.states, which this
module re-exports under the names the runtime and the tests import. All state
changes go through WebSocket._set_state, which also derives the flag the hot
path reads instead of the enum. The members of State are shared by every
connection, so they refuse attribute assignment.
"""

from __future__ import annotations

from fastware._generated.states import (
    CONNECTION_LOST,
    DATA_RECEIVE_STATES,
    FINAL,
    GONE_STATES,
    HANDSHAKE_REPLIES,
    HINTS,
    IN_DATA_RECEIVE,
    INITIAL,
    LAST_PARTS,
    NO_OPS,
    OPEN,
    SENDABLE,
    TRANSITIONS,
    State,
)

__all__ = [
    "CONNECTION_LOST",
    "DATA_RECEIVE_STATES",
    "FINAL",
    "GONE_STATES",
    "HANDSHAKE_REPLIES",
    "HINTS",
    "IN_DATA_RECEIVE",
    "INITIAL",
    "LAST_PARTS",
    "NO_OPS",
    "OPEN",
    "SENDABLE",
    "TRANSITIONS",
    "State",
]
