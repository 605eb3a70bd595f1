"""The exceptions of fastware.rooms."""

from __future__ import annotations


class RoomsError(Exception):
    """Base class of the errors fastware.rooms raises on purpose."""


class PositionGone(RoomsError):
    """The position cannot be continued without a gap: the client must reload its state.

    Raised by ``join(room, since=P)`` and ``history(room, since=P)`` when the messages after ``P`` are
    no longer all retained (older than ``history`` messages or ``retention`` seconds, or from another
    epoch of the room's log, as after Redis lost its data), and by a member's iteration when that
    happens while it is joined (a "reset"). Never a silent gap instead.
    """

    def __init__(self, message: str, *, room: str = "", pos: str | None = None) -> None:
        super().__init__(message)
        self.room = room
        self.pos = pos


class BackendUnavailable(RoomsError):
    """The backend (Redis) could not be reached or refused the command.

    From ``publish``: the message is not known to be appended. ``maybe_appended`` says whether it
    may still have been (a request sent whose reply was lost); it is then in the room at most once,
    never twice. ``False`` means the server answered with an error: nothing was appended.
    """

    def __init__(self, message: str, *, maybe_appended: bool = False) -> None:
        super().__init__(message)
        self.maybe_appended = maybe_appended


class MemberEnded(RoomsError):
    """Base class of the reasons a member's iteration ends early (besides ``PositionGone``)."""


class OutboxOverflow(MemberEnded):
    """The member fell more than ``outbox_limit`` events behind the room and stopped taking events
    (or fell more than ``outbox_limit`` + 1,000 behind), and was ended.

    Close the WebSocket with ``code`` (1013, "try again later"); the client reconnects with
    ``since=member.pos`` (its last position) and gets the rest.
    """

    code = 1013
