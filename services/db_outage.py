"""Which failures mean "the database cannot be reached for the moment": the server is down,
restarting or failing over, a connection was cut, the pool had none to give in time.

Such a failure is nobody's fault and passes by itself: a request answers 503 with
`Retry-After` (web/db_errors.py), a background round is tried again at its next interval, a
step is not retried on the spot (a retry would only wait for the same outage). Decided by
allow-list: any other database error (a constraint, a bad statement, a lock conflict) is what
it was before.

After a cut connection SQLAlchemy invalidates the whole pool (every connection made before the
cut is closed at its next checkout instead of being used), and `invalidate_on_outage` makes
every outage answer do so (a connection still open to a server that said "shutting down" or
"read-only"), so once the server answers again the next requests get new connections, without
a round trip per checkout (no `pool_pre_ping`): a stale connection costs one 503 at most.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

try:  # the PostgreSQL driver; a SQLite-only install has none
    import psycopg
except ImportError:  # pragma: no cover - psycopg is a declared dependency
    psycopg = None

# SQLSTATEs a PostgreSQL server answers while it cannot serve: class 08 (connection exception)
# by its prefix, and these: shutting down (57P01 admin, 57P02 crash), starting up or in
# recovery (57P03), too many connections (53300), and a write reaching a standby (25006, e.g.
# a client still pointed at the old primary after a failover).
UNAVAILABLE_STATES = frozenset({"57P01", "57P02", "57P03", "53300", "25006"})
CONNECTION_CLASS = "08"
CHAIN_DEPTH = 5  # how far along __cause__ / __context__ a wrapped failure is looked for


def unavailable(exc: BaseException | None) -> bool:
    """Whether `exc` (or an error it was raised from) means the database is unavailable."""
    seen = 0
    while exc is not None and seen < CHAIN_DEPTH:
        if _unavailable(exc):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _unavailable(exc: BaseException) -> bool:
    if isinstance(exc, sa_exc.TimeoutError):  # the pool had no connection to give in time
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:  # SQLAlchemy saw the connection cut
            return True
        return exc.orig is not None and _driver_unavailable(exc.orig)
    return _driver_unavailable(exc)


def _driver_unavailable(exc: BaseException) -> bool:
    if psycopg is None or not isinstance(exc, psycopg.Error):
        return False
    if isinstance(exc, psycopg.InterfaceError):  # e.g. "the connection is closed"
        return True
    state = exc.sqlstate
    if state is None:  # raised by the client: no connection, or it broke ("server closed …")
        return isinstance(exc, psycopg.OperationalError)
    return state.startswith(CONNECTION_CLASS) or state in UNAVAILABLE_STATES


def invalidate_on_outage(db: Engine) -> None:
    """Make every outage a disconnect to `db`'s pool, not only a cut connection: a connection
    that answered "shutting down" or "read-only" (a primary demoted to standby behind a moved
    address) is then closed, and the pool made anew, instead of being handed out again."""
    event.listen(db, "handle_error", _as_disconnect)


def _as_disconnect(context) -> None:
    if not context.is_disconnect and _driver_unavailable(context.original_exception):
        context.is_disconnect = True
