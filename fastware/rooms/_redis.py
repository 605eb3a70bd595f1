"""RedisBackend: each room a Redis stream plus a small hash, shared by every process on the same Redis.

Keys (the ``{room}`` hash tag keeps a room's keys in one cluster slot):

- ``<prefix>:{<room>}:log``: a stream; entry id ``<offset>-0``, fields ``e`` (epoch) and ``d`` (JSON text);
  trimmed to ``history`` entries (exact ``MAXLEN``).
- ``<prefix>:{<room>}:meta``: a hash; ``e`` the epoch (random, made when the hash is missing), ``o`` the
  last offset.
- ``<prefix>:{<room>}:pub:<token>``: for 60 s after a publish, its result, so that a publish retried
  after a lost reply returns the first append's position instead of appending again.
- ``<prefix>:index``: a stream, one entry per append, trimmed to about ``INDEX_LENGTH`` entries: one
  field ``m``, ``n US room US epoch US offset [US text]`` (US: the byte 0x1f; ``n`` a sequence number
  from the counter ``<prefix>:index:n``; the text only if at most ``INDEX_TEXT`` bytes). What it costs
  Redis: the index is at most about ``INDEX_LENGTH`` entries of up to ``INDEX_TEXT`` bytes of copied
  text (measured, MEMORY USAGE: 13 MB with 1 KB texts, 1.6 MB with 100-byte ones); the rooms' logs
  hold far more (``history`` per room).

Both ``log`` and ``meta`` expire ``retention`` seconds after the room's last message; this process
refreshes that for rooms with local members, so a quiet room does not expire under them.

Appends run one Lua script (as Centrifugo's ``broker_history_add_stream.lua``): the epoch (new, and the
old stream deleted, if the hash is missing), the next offset, ``XADD`` at that offset, then the
offset stored, the TTLs refreshed, the idempotency token set and the entry added to the index, all
atomically; appends issued at the same time run in one call of the script (up to ``APPEND_BATCH``),
each with its own token and answer (an append Redis refuses fails alone: ``pcall``). One reader
task per process blocks on the index alone (``XREAD BLOCK``: a cost that does not grow with the rooms
joined). An index entry that is the next message of a room with local members (its offset follows the
last one dispatched, its epoch is the one last read from the room's log, its text is there) is
delivered from the index: one read per wake-up, none per room. Every other room the index names is
read from its log, from the last offset dispatched, and every room is when the index may have missed
something (see ``read``): the index is a fast path, the logs are the truth.
``CLIENT UNBLOCK`` wakes it when rooms are joined. redis-py's PubSub is not used: it is at-most-once
and resubscribes silently. Gaps are found from offsets and epochs, never assumed away.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple

try:
    import redis
    import redis.asyncio as aioredis
    from redis.asyncio.connection import AbstractConnection
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import NoScriptError, RedisError, ResponseError
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("RedisBackend needs the redis package (redis-py): pip install 'fastware[redis]'") from exc

from ._backend import Entry, Head, Span
from ._errors import BackendUnavailable

# redis-py before 5.3 needs a command name to hand out a connection; later ones warn if given one.
_GET_CONNECTION_ARGS: tuple[str, ...] = ("XREAD",) if redis.VERSION < (5, 3) else ()
READ_BATCH = 1000  # entries per room per XREAD
INDEX_BATCH = 2_000  # index entries per read of the index by script (up to INDEX_TEXT bytes each)
WAKE_BATCH = 32  # index entries the blocking XREAD returns at most (more are read by script)
INDEX_LENGTH = 10_000  # index entries Redis keeps (about: MAXLEN ~); a reader further behind reads every room
INDEX_TEXT = 1024  # bytes: a longer text is not copied into the index (the reader reads it from the log)
APPEND_BATCH = 500  # appends sent together in one call of the append script at most
TOKEN_TTL = 60  # seconds an idempotency token outlives its publish
PUBLISH_ATTEMPTS = 3
PUBLISH_BACKOFF = (0.05, 0.25)  # seconds before the 2nd and 3rd attempt
READER_NAME = "fastware-rooms-reader"
UNBLOCK_TRIES = 100  # x 5 ms: how long a wake-up keeps trying to reach a reader about to block

# Every append of a batch, in one script: each atomic (the whole batch is), each with its own answer,
# the position or the error Redis raised for it (pcall: one refused append does not stop the others).
# KEYS: the index, its counter, then per append its room's meta and log and its token. ARGV: history,
# TTL (ms, '0': none), token TTL (s), index length, longest text copied into the index (bytes), then
# per append the text, a new epoch (used if the room has none) and the room.
_APPEND = """
local index, counter = KEYS[1], KEYS[2]
local history, ttl, token_ttl, index_length = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local index_text = tonumber(ARGV[5])
local function append(meta, log, token, text, new_epoch, room)
  local done = redis.call('GET', token)
  if done then
    return done
  end
  local stored = redis.call('HMGET', meta, 'e', 'o')
  local epoch, offset = stored[1], 0
  if epoch then
    offset = tonumber(stored[2]) + 1
  else
    epoch = new_epoch
    offset = 1
    redis.call('DEL', log)
    redis.call('HSET', meta, 'e', epoch)
  end
  local o = string.format('%d', offset)
  redis.call('XADD', log, 'MAXLEN', history, o .. '-0', 'e', epoch, 'd', text)
  redis.call('HSET', meta, 'o', o)
  local entry = string.format('%d', redis.call('INCR', counter)) .. '\\31' .. room .. '\\31' .. epoch .. '\\31' .. o
  if #text <= index_text then
    entry = entry .. '\\31' .. text
  end
  redis.call('XADD', index, 'MAXLEN', '~', index_length, '*', 'm', entry)
  if ttl ~= '0' then
    redis.call('PEXPIRE', meta, ttl)
    redis.call('PEXPIRE', log, ttl)
  end
  done = epoch .. ':' .. o
  redis.call('SET', token, done, 'EX', token_ttl)
  return done
end
local out = {}
for i = 1, (#KEYS - 2) / 3 do
  local ok, result = pcall(append, KEYS[3 * i], KEYS[3 * i + 1], KEYS[3 * i + 2], ARGV[3 * i + 3], ARGV[3 * i + 4], ARGV[3 * i + 5])
  if ok then
    out[i] = result
  elseif type(result) == 'table' and result.err then
    out[i] = result
  else
    out[i] = {err = 'ERR ' .. tostring(result)}
  end
end
return out
"""

_HEAD = """
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0)
end
local last = tonumber(redis.call('HGET', KEYS[1], 'o'))
local first = last + 1
local oldest = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
if oldest[1] then
  first = tonumber(string.match(oldest[1][1], '^(%d+)'))
end
if ARGV[2] ~= '0' then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  if oldest[1] then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
end
return {epoch, first, last}
"""

_RANGE = """
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  return {'', 0, {}}
end
local last = tonumber(redis.call('HGET', KEYS[1], 'o'))
local start = string.format('%d-0', tonumber(ARGV[1]) + 1)
return {epoch, last, redis.call('XRANGE', KEYS[2], start, '+', 'COUNT', ARGV[2])}
"""

# The reader's reads by script, so that Redis returns little to parse (redis-py's parser is Python): the
# index entries after one, as one string (records separated by RS: an entry holding an RS, or one not
# written by _APPEND, makes it a list, the latter as ''), and the entries of some rooms' logs.
_MOVED = """
local reply = redis.call('XREAD', 'COUNT', ARGV[2], 'STREAMS', KEYS[1], ARGV[1])
if not reply then
  return {}
end
local items = reply[1][2]
local packed, plain = {}, true
for i, item in ipairs(items) do
  local m = item[2][2]
  if item[2][1] ~= 'm' or string.find(m, '\\30', 1, true) then
    plain = false
    break
  end
  packed[i] = m
end
if plain then
  return {items[#items][1], table.concat(packed, '\\30')}
end
local list = {}
for i, item in ipairs(items) do
  list[i] = item[2][1] == 'm' and item[2][2] or ''
end
return {items[#items][1], list}
"""

_FETCH = """
local out = {}
local count = ARGV[#KEYS + 1]
for i, key in ipairs(KEYS) do
  local items = redis.call('XRANGE', key, string.format('%d-0', tonumber(ARGV[i]) + 1), '+', 'COUNT', count)
  local packed, plain = {}, true
  for j, item in ipairs(items) do
    local text = item[2][4]
    if string.find(text, '\\30', 1, true) then
      plain = false
      break
    end
    packed[j] = string.match(item[1], '^(%d+)') .. '\\31' .. item[2][2] .. '\\31' .. text
  end
  if plain then
    out[i] = table.concat(packed, '\\30')
  else
    local flat = {}
    for _, item in ipairs(items) do
      flat[#flat + 1] = tonumber(string.match(item[1], '^(%d+)'))
      flat[#flat + 1] = item[2][2]
      flat[#flat + 1] = item[2][4]
    end
    out[i] = flat
  end
end
return out
"""


def _unpack(got: str | list[Any]) -> list[Entry]:
    """The entries of one room as _FETCH returns them: one string, records separated by RS (a JSON
    text never holds one unescaped; the room's name and epoch cannot) and fields by US (the text is
    the last field, so it may hold a US); or, if a text held an RS, flat triples."""
    if isinstance(got, str):
        entries = []
        for record in got.split("\x1e"):
            offset, epoch, text = record.split("\x1f", 2)
            entries.append(Entry(int(offset), epoch, text))
        return entries
    return [Entry(*got[i : i + 3]) for i in range(0, len(got), 3)]


def _new_epoch() -> str:
    return secrets.token_hex(6)


class _Append(NamedTuple):
    room: str
    keys: bytes  # its keys of the append script, packed (meta, log, token): the same on every attempt
    args: bytes  # its arguments, packed (text, new epoch, room)
    future: asyncio.Future[tuple[str, int]]


def _settle(item: _Append, *, result: tuple[str, int] | None = None, exc: BaseException | None = None) -> None:
    if item.future.done():  # its publisher was cancelled meanwhile
        return
    if exc is not None:
        item.future.set_exception(exc)
    else:
        assert result is not None
        item.future.set_result(result)


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


_READ_BATCH_ARG = b"%d" % READ_BATCH
_INDEX_BATCH_ARG = b"%d" % INDEX_BATCH
_WAKE_BATCH_ARG = b"%d" % WAKE_BATCH


def _pack(parts: list[bytes]) -> bytes:
    # The reader's commands, packed directly (redis-py's generic packing costs ~15 ms for 1,000 rooms).
    return b"*%d\r\n" % len(parts) + b"".join(_bulk(part) for part in parts)


def _never_sent(exc: BaseException) -> bool:
    text = str(exc)
    return "connecting to" in text or "No connection available" in text or "Too many connections" in text


def _entry(raw: Any) -> Entry:
    entry_id, fields = raw
    if not isinstance(fields, dict):  # XRANGE inside Lua: a flat [field, value, ...] list
        fields = dict(zip(fields[::2], fields[1::2], strict=True))
    return Entry(int(entry_id.partition("-")[0]), fields["e"], fields["d"])


class RedisBackend:
    """Room logs in Redis (streams), shared by every ``Rooms`` on the same Redis: workers, hosts, jobs.

    ``url``: a ``redis://`` or ``rediss://`` URL. ``history``: messages kept per room (exactly).
    ``retention``: seconds a room's log is kept after its last message while no process has members
    in it (``None``: until trimmed by ``history``). ``prefix``: of every key. ``timeout``: seconds a
    command may take before it counts as failed. ``max_connections``: of the pool for publishes and
    catch-up reads (the reader has its own connection). Needs ``pip install 'fastware[redis]'``.

    Redis must keep its data for positions to survive a Redis restart (``appendonly yes``); without
    it, a restart shows as a new epoch: ``PositionGone`` for every member and old position, never a gap.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        history: int = 1000,
        retention: float | None = 60.0,
        prefix: str = "fastware:rooms",
        timeout: float = 5.0,
        max_connections: int = 50,
    ) -> None:
        if isinstance(history, bool) or not isinstance(history, int) or history < 1:
            raise ValueError(f"history must be a positive int, got {history!r}")
        if retention is not None and not retention > 0:
            raise ValueError(f"retention must be a positive number of seconds or None, got {retention!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.url: str = url
        self.history: int = history
        self.retention: float | None = retention
        self.prefix: str = prefix
        self._prefix_bytes = prefix.encode()
        self.timeout: float = timeout
        self.max_connections: int = max_connections
        self._ttl_ms = "0" if retention is None else str(max(1, round(retention * 1000)))
        self._client: aioredis.Redis | None = None
        self._reader: tuple[aioredis.ConnectionPool, AbstractConnection] | None = None
        self._reader_id = 0
        self._stream_keys: dict[str, bytes] = {}
        self._index_key = f"{prefix}:index"
        self._index_seq_key = f"{prefix}:index:n"
        self._index_at: str | None = None  # id of the last index entry read; None: (re)start from its end
        self._index_n: int | None = None  # its sequence number, to notice entries trimmed unread
        self._busy = False  # the index had more entries than one XREAD returns
        self._expected: dict[str, int] = {}  # per room, the cursor the next read gets if nothing is left to fetch
        self._epochs: dict[str, str] = {}  # per room, the epoch of the last entry read (for the index's texts)
        self._reading = False
        self._woken = False
        self._unblocker: asyncio.Task[None] | None = None
        self._appends: list[_Append] = []
        self._append_parts: tuple[bytes, bytes, bytes] = (b"", b"", b"")
        self._appender: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"RedisBackend({self.url!r}, history={self.history}, retention={self.retention})"

    # -- connections -----------------------------------------------------------------------------

    def _pool(self, socket_timeout: float, max_connections: int) -> aioredis.ConnectionPool:
        # No automatic retries: a retried XADD is a duplicate; publish retries itself, idempotently.
        # RESP2: under RESP3, redis-py 8's pool did not notice connections the server had closed.
        # A blocking pool: a burst of publishes waits for a connection (up to `timeout`) instead of failing.
        return aioredis.BlockingConnectionPool.from_url(
            self.url,
            max_connections=max_connections,
            timeout=self.timeout,
            protocol=2,
            decode_responses=True,
            retry=Retry(NoBackoff(), 0),
            retry_on_error=[],
            socket_timeout=socket_timeout,
            socket_connect_timeout=self.timeout,
        )

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            raise RuntimeError("RedisBackend is not open: use it through `async with Rooms(backend):`")
        return self._client

    async def open(self) -> None:
        if self._client is not None:
            raise RuntimeError("this RedisBackend is already in use by a running Rooms; give each Rooms its own")
        self._client = aioredis.Redis.from_pool(self._pool(self.timeout, self.max_connections))
        self._append_sha = hashlib.sha1(_APPEND.encode()).hexdigest()
        self._head_sha = hashlib.sha1(_HEAD.encode()).hexdigest()
        self._range_sha = hashlib.sha1(_RANGE.encode()).hexdigest()
        self._moved_sha = hashlib.sha1(_MOVED.encode()).hexdigest()
        self._fetch_sha = hashlib.sha1(_FETCH.encode()).hexdigest()
        # The parts of the append command that do not depend on the rooms or the messages, packed once.
        self._append_parts = (
            _bulk(b"EVALSHA") + _bulk(self._append_sha.encode()),
            _bulk(self._index_key.encode()) + _bulk(self._index_seq_key.encode()),
            b"".join(_bulk(b"%d" % n) for n in (self.history, int(self._ttl_ms), TOKEN_TTL, INDEX_LENGTH, INDEX_TEXT)),
        )
        try:
            await self._client.ping()
        except (RedisError, OSError) as exc:
            raise BackendUnavailable(f"cannot reach Redis at {self.url}: {exc}") from exc

    async def close(self) -> None:
        appender, self._appender = self._appender, None
        if appender is not None and not appender.done():
            # Appends already handed to Redis finish (or fail) within `timeout`, each with its answer.
            await asyncio.wait({appender}, timeout=PUBLISH_ATTEMPTS * self.timeout + 1)
            appender.cancel()
        pending, self._appends = self._appends, []
        for item in pending:  # never sent
            _settle(item, exc=BackendUnavailable(f"could not append to room {item.room!r}: the backend closed"))
        unblocker, self._unblocker = self._unblocker, None
        if unblocker is not None:
            unblocker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await unblocker
        await self._drop_reader()
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()

    async def _drop_reader(self) -> None:
        self._index_at = None  # whatever was missed meanwhile: every room is read again
        reader, self._reader = self._reader, None
        if reader is not None:
            pool, conn = reader
            with contextlib.suppress(RedisError, OSError):
                await conn.disconnect()
            with contextlib.suppress(RedisError, OSError):
                await pool.aclose()

    async def _reader_connection(self) -> AbstractConnection:
        if self._reader is None:
            # A dedicated connection: XREAD BLOCK holds it, and CLIENT UNBLOCK needs its id. Any error
            # drops it, so a new connection always has its id asked anew.
            pool = self._pool(self.timeout, 1)
            try:
                conn = await pool.get_connection(*_GET_CONNECTION_ARGS)  # type: ignore[no-untyped-call]
                await conn.send_command("CLIENT", "ID")
                self._reader_id = int(await conn.read_response())
                await conn.send_command("CLIENT", "SETNAME", READER_NAME)  # for operators (CLIENT LIST)
                await conn.read_response()
            except BaseException:
                await pool.aclose()
                raise
            self._reader = pool, conn
        return self._reader[1]

    def _keys(self, room: str) -> tuple[str, str]:
        return f"{self.prefix}:{{{room}}}:meta", f"{self.prefix}:{{{room}}}:log"

    # -- the protocol ----------------------------------------------------------------------------

    async def append(self, room: str, text: str) -> tuple[str, int]:
        # Appends issued at the same time go to Redis together, in one call of the script (one write,
        # one reply instead of one round trip each); each keeps its own token, result and error.
        self.client  # noqa: B018 - raises if not open
        name = room.encode()
        keys = b"%s:{%s}:" % (self._prefix_bytes, name)
        random = secrets.token_hex(14).encode()  # the token (16 digits) and a new epoch (12), if needed
        future: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()
        self._appends.append(
            _Append(
                room,
                _bulk(keys + b"meta") + _bulk(keys + b"log") + _bulk(keys + b"pub:" + random[:16]),
                _bulk(text.encode()) + _bulk(random[16:]) + _bulk(name),
                future,
            )
        )
        if self._appender is None or self._appender.done():
            self._appender = asyncio.get_running_loop().create_task(self._append_all())
        return await future

    async def _append_all(self) -> None:
        while self._appends:
            batch, self._appends = self._appends[:APPEND_BATCH], self._appends[APPEND_BATCH:]
            try:
                await self._append_batch(batch)
            except BaseException as exc:  # never leave a publisher waiting (cancelled at close, a bug...)
                for item in batch:
                    _settle(
                        item,
                        exc=BackendUnavailable(f"could not append to room {item.room!r}: {exc!r}", maybe_appended=True),
                    )
                if not isinstance(exc, Exception):
                    raise

    async def _append_batch(self, batch: list[_Append]) -> None:
        """Run the append script for each item, retrying (the same tokens: never twice) what failed."""
        pending = [item for item in batch if not item.future.done()]
        maybe_appended = False
        error: BaseException | None = None
        attempt = 0
        while pending and attempt < PUBLISH_ATTEMPTS:
            if attempt:
                await asyncio.sleep(PUBLISH_BACKOFF[attempt - 1])
            attempt += 1
            try:
                replies = await self._run_appends(pending)
            except (RedisError, OSError) as exc:
                error = exc
                # A failed connect or no free connection sent nothing; any other failure may have lost
                # the replies of appends that ran.
                maybe_appended = maybe_appended or not _never_sent(exc)
                continue
            retry = []
            for item, reply in zip(pending, replies, strict=True):
                if isinstance(reply, NoScriptError):
                    retry.append(item)  # Redis restarted and lost its script cache: load it, run again
                elif isinstance(reply, Exception):
                    # The server refused (out of memory, read-only replica...): the script stopped before
                    # XADD or after everything, so nothing half-done is left, and nothing to retry.
                    _settle(item, exc=BackendUnavailable(f"Redis refused to append to room {item.room!r}: {reply}"))
                else:
                    epoch, _, offset = reply.rpartition(":")
                    _settle(item, result=(epoch, int(offset)))
            if retry:
                try:
                    await self.client.script_load(_APPEND)
                except (RedisError, OSError) as exc:
                    error = exc
                else:
                    attempt -= 1  # not a failure of the append itself
            pending = retry
        for item in pending:
            _settle(
                item,
                exc=BackendUnavailable(
                    f"could not append to room {item.room!r} after {PUBLISH_ATTEMPTS} attempts: {error}"
                    + ("; the message may have been appended once (never twice)" if maybe_appended else ""),
                    maybe_appended=maybe_appended,
                ),
            )

    async def _run_appends(self, items: list[_Append]) -> list[Any]:
        """One call of the append script for all ``items``, packed here (redis-py's packing costs more
        than the script itself, and one reply is parsed instead of one per item); each item's reply,
        or the error Redis answered for it (for all of them if the script did not run)."""
        pool = self.client.connection_pool
        conn = await pool.get_connection(*_GET_CONNECTION_ARGS)  # type: ignore[no-untyped-call]
        try:
            front, index, limits = self._append_parts
            n = len(items)
            await conn.send_packed_command(
                b"".join(
                    [
                        b"*%d\r\n" % (10 + 6 * n),
                        front,
                        _bulk(b"%d" % (2 + 3 * n)),
                        index,
                        *[item.keys for item in items],
                        limits,
                        *[item.args for item in items],
                    ]
                ),
                False,
            )
            try:
                replies: list[Any] = await conn.read_response()
            except ResponseError as exc:
                replies = [exc] * n
            if not isinstance(replies, list) or len(replies) != n:
                raise ResponseError(f"unexpected answer of the append script: {replies!r}")
        except BaseException:
            # Replies unread (a lost connection, a timeout, cancelled): the connection is not reused.
            await conn.disconnect()
            raise
        finally:
            await pool.release(conn)
        return replies

    async def heads(self, rooms: Sequence[str]) -> list[Head]:
        async def call() -> Any:
            return await self._scripts(
                _HEAD, self._head_sha, [(*self._keys(room), _new_epoch(), self._ttl_ms) for room in rooms]
            )

        replies = await self._idempotent(call, "cannot read the rooms' heads from Redis")
        return [Head(str(epoch), int(first), int(last)) for epoch, first, last in replies]

    async def range(self, room: str, after: int, limit: int) -> Span:
        async def call() -> Any:
            (reply,) = await self._scripts(_RANGE, self._range_sha, [(*self._keys(room), after, limit)])
            return reply

        epoch, last, raw = await self._idempotent(call, f"cannot read room {room!r} from Redis")
        if not epoch:
            return Span(None, 0, [])
        return Span(str(epoch), int(last), [_entry(item) for item in raw])

    async def _scripts(self, script: str, sha: str, calls: list[tuple[str | int, ...]]) -> list[Any]:
        """Run a two-key script once per call, in one pipeline; its replies, or the first error raised.

        EVALSHA directly: redis-py's Script in a pipeline asks SCRIPT EXISTS first, a round trip more.
        """
        for loaded in (False, True):
            async with self.client.pipeline(transaction=False) as pipe:
                for args in calls:
                    pipe.evalsha(sha, 2, *args)
                replies = await pipe.execute(raise_on_error=False)
            if loaded or not any(isinstance(r, NoScriptError) for r in replies):
                break
            await self.client.script_load(script)  # Redis restarted and lost its script cache
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return list(replies)

    async def _idempotent(self, call: Callable[[], Awaitable[Any]], what: str) -> Any:
        # Safe to run twice (reads; an epoch made only if missing): one retry at once, because the
        # first command on a pooled connection that a restarted Redis closed fails without being sent.
        for attempt in range(2):
            try:
                return await call()
            except ResponseError as exc:
                raise BackendUnavailable(f"{what}: {exc}") from exc
            except (RedisError, OSError) as exc:
                if attempt:
                    raise BackendUnavailable(f"{what}: {exc}") from exc
        raise AssertionError("unreachable")

    async def read(self, cursors: Mapping[str, int], timeout: float) -> list[tuple[str, list[Entry]]]:
        # Every append also adds an entry to the prefix's index stream, in the same script: a sequence
        # number, the room, the epoch, the offset and (up to INDEX_TEXT bytes) the text. The reader waits
        # on that one stream (a cost that does not grow with the rooms joined) and delivers an entry
        # straight from it when it is the next one of a room with local members: its offset follows the
        # room's cursor and its epoch is the one last read for the room. Any other room the index names
        # is read from its log, from its cursor. Nothing depends on the index being complete: a room
        # whose cursor is not the one this backend expects (joined, rejoined, reset), a gap in the
        # index's sequence numbers (trimmed unread, counter reset), a new reader connection or an idle
        # timeout make every such room (or every room) be read from its log, as without the index.
        if self._woken:
            self._woken = False
            return []
        try:
            conn = await self._reader_connection()
            if self._index_at is None:
                await self._index_restart(conn)
            expected = self._expected
            batches: list[tuple[str, list[Entry]]] = []
            if cursors != expected:
                logs = [r for r, at in cursors.items() if expected.get(r) != at]
                self._expected = expected = dict(cursors)
            else:
                # Busy (the last read of the index was a full batch): ask the script at once. Otherwise
                # XREAD BLOCK returns the few new entries, or waits for the next.
                records = await self._moved(conn) if self._busy else None
                if records is None:  # nothing new in the index: wait for its next entry
                    if self._woken:  # woken before blocking: CLIENT UNBLOCK would find nothing to unblock
                        self._woken = False
                        return []
                    block_ms = max(1, round(timeout * 1000))
                    index = await self._command(conn, self._pack_index(block_ms), timeout)
                    if not index:
                        if self._woken:  # CLIENT UNBLOCK
                            self._woken = False
                        else:
                            self._index_at = None  # idle: check every room once (repairs anything missed)
                        return []
                    items = index[0][1]
                    # A full batch may have more behind it: the next read asks the script at once.
                    self._busy = len(items) >= WAKE_BATCH
                    self._index_at = items[-1][0]
                    records = [fields[1] if fields[0] == "m" else "" for _id, fields in items]
                batches, logs = self._sort(records, cursors)
            if not logs:
                return batches
            reply: Any = await self._fetch(conn, logs, cursors)
        except (RedisError, OSError) as exc:
            await self._drop_reader()
            raise BackendUnavailable(f"reading the rooms from Redis failed: {exc}") from exc
        except BaseException:
            # Cancelled mid-command: the connection's state is unknown; never reuse it.
            await self._drop_reader()
            raise
        epochs = self._epochs
        for room, got in zip(logs, reply, strict=True):
            if not got:
                continue
            entries = _unpack(got)
            # A full batch may have more behind it: read the room again next time.
            expected[room] = entries[-1].offset if len(entries) < READ_BATCH else -1
            epochs[room] = entries[-1].epoch
            batches.append((room, entries))
        if len(epochs) > 2 * len(cursors) + 1000:  # rooms come and go: keep it bounded
            self._epochs = {room: epoch for room, epoch in epochs.items() if room in cursors}
        return batches

    def _sort(self, records: list[str], cursors: Mapping[str, int]) -> tuple[list[tuple[str, list[Entry]]], list[str]]:
        """From new index entries (``n US room US epoch US offset [US text]``; '' for one not written
        by _APPEND): the entries to deliver as they are, per room, and the rooms to read from their log.

        An entry is delivered from the index only if it is the next one of its room (its offset follows
        the cursor) in the epoch last read for the room, and holds its text; a room with any other entry
        after its cursor is read from its log (which has every entry the index named, and maybe more).
        """
        n = self._index_n
        complete = True
        ready: dict[str, list[Entry]] = {}
        logs: dict[str, None] = {}
        expected = self._expected
        epochs = self._epochs
        for record in records:
            parts = record.split("\x1f", 4)
            try:
                number, offset = int(parts[0]), int(parts[3])
            except (ValueError, IndexError):  # not written by _APPEND (another version): anything may be missed
                complete = False
                continue
            if n is not None and number != n + 1:
                complete = False
            n = number
            room = parts[1]
            at = cursors.get(room)
            if at is None or room in logs:
                continue  # no local members, or read from the log anyway
            entries = ready.get(room)
            last = entries[-1].offset if entries else at
            if offset <= last:
                continue  # had already (read from the log before the index named it)
            if len(parts) == 5 and offset == last + 1 and epochs.get(room) == parts[2]:
                entry = Entry(offset, parts[2], parts[4])
                if entries is None:
                    ready[room] = [entry]
                else:
                    entries.append(entry)
            else:  # a gap, another epoch, a text left out: the log has it all
                logs[room] = None
                ready.pop(room, None)
        self._index_n = n
        if not complete:  # trimmed before this reader got to them, or the counter started over
            return [], list(cursors)
        for room, entries in ready.items():
            expected[room] = entries[-1].offset
        return list(ready.items()), list(logs)

    async def _command(self, conn: AbstractConnection, packed: bytes, blocking: float) -> Any:
        self._reading = True
        try:
            await conn.send_packed_command(packed, False)
            return await conn.read_response(timeout=blocking + self.timeout)
        finally:
            self._reading = False

    async def _script(self, conn: AbstractConnection, script: str, sha: str, args: list[bytes]) -> Any:
        """EVALSHA on the reader's connection (EVAL if Redis lost its script cache); ``args``: numkeys onward."""
        try:
            return await self._command(conn, _pack([b"EVALSHA", sha.encode(), *args]), 0.0)
        except NoScriptError:
            return await self._command(conn, _pack([b"EVAL", script.encode(), *args]), 0.0)

    async def _index_restart(self, conn: AbstractConnection) -> None:
        """Start reading the index at its end, and read every room once (what came before)."""
        await conn.send_command("XREVRANGE", self._index_key, "+", "-", "COUNT", "1")
        last: Any = await conn.read_response(timeout=self.timeout)
        self._index_at, self._index_n = "0-0", None
        if last:
            entry_id, fields = last[0]
            self._index_at = entry_id
            if fields[0] == "m":
                self._index_n = int(fields[1].partition("\x1f")[0])
        self._expected = {}

    def _pack_index(self, block_ms: int) -> bytes:
        assert self._index_at is not None
        return _pack(
            [
                b"XREAD",
                b"COUNT",
                _WAKE_BATCH_ARG,
                b"BLOCK",
                b"%d" % block_ms,
                b"STREAMS",
                self._index_key.encode(),
                self._index_at.encode(),
            ]
        )

    async def _moved(self, conn: AbstractConnection) -> list[str] | None:
        """The index entries after ``_index_at`` (up to INDEX_BATCH); None if the index has nothing new."""
        assert self._index_at is not None
        args = [b"1", self._index_key.encode(), self._index_at.encode(), _INDEX_BATCH_ARG]
        reply: Any = await self._script(conn, _MOVED, self._moved_sha, args)
        if not reply:
            self._busy = False
            return None
        last_id, got = reply
        self._index_at = last_id
        records: list[str] = got.split("\x1e") if isinstance(got, str) else got
        self._busy = len(records) >= INDEX_BATCH
        return records

    async def _fetch(self, conn: AbstractConnection, rooms: list[str], cursors: Mapping[str, int]) -> Any:
        keys = self._stream_keys
        args = [b"%d" % len(rooms)]
        for room in rooms:
            key = keys.get(room)
            if key is None:
                if len(keys) > 10_000:  # rooms come and go: keep the cache bounded
                    keys.clear()
                key = keys[room] = self._keys(room)[1].encode()
            args.append(key)
        args.extend(b"%d" % cursors[room] for room in rooms)
        args.append(_READ_BATCH_ARG)
        return await self._script(conn, _FETCH, self._fetch_sha, args)

    def wake(self) -> None:
        self._woken = True
        if self._reading and self._client is not None and (self._unblocker is None or self._unblocker.done()):
            self._unblocker = asyncio.get_running_loop().create_task(self._unblock())

    async def _unblock(self) -> None:
        # The XREAD may not have reached Redis yet (CLIENT UNBLOCK then answers 0): try again shortly.
        for _ in range(UNBLOCK_TRIES):
            if not (self._reading and self._woken and self._client is not None):
                return
            try:
                if await self._client.client_unblock(self._reader_id):
                    return
            except (RedisError, OSError):
                return
            await asyncio.sleep(0.005)
