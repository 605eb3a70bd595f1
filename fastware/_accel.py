"""The C fast path of the hot methods, and the switch that turns it off.

fastware._speedups (fastware/_speedups.c) holds no protocol: the generated methods
module hands it each hot method with the message type, keys and payload type the
schema gives, and it runs that method's common case (the connection open, the
argument of the right type, the message of the expected frame type) without a
Python frame. Everything else goes to the generated Python method. Where the
extension is not built, or FASTWARE_NO_SPEEDUPS is set, the methods stay plain
`async def`s with the same behaviour.
"""

from __future__ import annotations

import asyncio.coroutines
import collections.abc
import importlib
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Speedups:
    """Whether the C fast path (fastware._speedups) runs the hot methods, and why.

    True in a boolean context exactly when ``enabled`` is. ``reason`` is ``"built"``,
    ``"switched off by FASTWARE_NO_SPEEDUPS"``, or ``"not built: ..."`` with the import error.
    """

    enabled: bool
    reason: str

    def __bool__(self) -> bool:
        return self.enabled


def _load() -> tuple[Any, Speedups]:
    if os.environ.get("FASTWARE_NO_SPEEDUPS"):
        return None, Speedups(False, "switched off by FASTWARE_NO_SPEEDUPS")
    try:
        # import_module: the extension has no stub, and `from fastware import _speedups` would redefine the name.
        _speedups = importlib.import_module("fastware._speedups")
    except ImportError as exc:  # not compiled here: the Python methods are used as they are
        return None, Speedups(False, f"not built: {exc}")
    return _speedups, Speedups(True, "built")


_speedups: Any
SPEEDUPS: Speedups
_speedups, SPEEDUPS = _load()

#: Whether the hot methods run through fastware._speedups (fastware.SPEEDUPS says why).
ENABLED: bool = SPEEDUPS.enabled

if _speedups is not None:
    # asyncio.create_task(), gather() and run() accept only coroutines; a Step is one in all but its type.
    collections.abc.Coroutine.register(_speedups.Step)


def _as_coroutine_function(method: Any) -> Any:
    # asyncio.iscoroutinefunction() (3.11) and inspect.iscoroutinefunction() (3.12+) answer True, as for the async def.
    method._is_coroutine = getattr(asyncio.coroutines, "_is_coroutine", None)
    if hasattr(inspect, "markcoroutinefunction"):
        inspect.markcoroutinefunction(method)
    return method


def hot_send(func: F, msg_type: str, key: str, payload_type: type) -> F:
    """``func`` (an ``async def method(self, data)``), sending ``{"type": msg_type, key: data}`` in C when it can."""
    if _speedups is None:
        return func
    return _as_coroutine_function(_speedups.send_method(func, msg_type, key, payload_type))  # type: ignore[no-any-return]


def hot_receive(
    func: F,
    then: Callable[[Any, Any], Any],
    msg_type: str,
    key: str,
    payload_type: type,
    other_key: str,
    convert_slot: str | None = None,
) -> F:
    """``func`` (an ``async def method(self, *, timeout=None)``), reading a data message in C when it can.

    A message of type ``msg_type`` whose ``key`` is a ``payload_type`` and whose ``other_key``
    is missing or None gives that payload; any other message gives ``then(self, message)``.
    With ``convert_slot``, a matching payload gives ``getattr(self, convert_slot)(payload)``
    instead, and ``then(self, message, error)`` if that raises (receive_json(): the decoder).
    """
    if _speedups is None:
        return func
    match: tuple[Any, ...] = (msg_type, key, payload_type, other_key)
    if convert_slot is not None:
        match += (convert_slot,)
    return _as_coroutine_function(_speedups.receive_method(func, then, match))  # type: ignore[no-any-return]


def hot_encode(
    func: F,
    sender: Any,
    sender_name: str,
    override_slot: str,
    encode: Callable[..., Any],
    extra: tuple[Any, ...],
    needle: bytes,
    check: Callable[[Any, str], str],
) -> F:
    """``func`` (``send_json(self, data, ...)``), encoding and sending in C when it can.

    Called as ``func(ws, data)`` while ``ws.<override_slot>`` is None and ``ws.<sender_name>`` is
    ``sender`` (a :func:`hot_send` method, not a subclass's override), it calls
    ``encode(data, *extra)``; UTF-8 bytes give the text (``check(data, text)`` when they hold
    ``needle``) and the awaitable ``sender`` would return for it. Any other call, and any Exception
    on the way, goes to ``func``, which encodes again and reports what went wrong.
    """
    if _speedups is None or not isinstance(sender, _speedups.HotMethod):
        return func
    return _as_coroutine_function(  # type: ignore[no-any-return]
        _speedups.encode_method(func, sender, sender_name, override_slot, encode, extra, needle, check)
    )
