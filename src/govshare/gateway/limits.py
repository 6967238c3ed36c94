"""A grant's rate limit and daily quota (R09), exact across threads and worker processes.

The counters are the grant's row of the day in the node's database (`GrantUsageDay`: `calls` today,
`second_calls` in the clock second `second`). Before a call is served it takes one slot of both with one
conditional UPDATE: the row changes only while the second has room and the day has quota left, and the
database applies concurrent UPDATEs of one row one after the other (SQLite's single writer; PostgreSQL's
row lock), so no two callers can take the last slot, whichever thread, process or (on PostgreSQL) host they
run in. A day's first call inserts the row (`ON CONFLICT DO NOTHING`: when another process inserted it
first, the UPDATE is tried again).

A slot taken is a call attempted within the grant: it counts whatever the call's result (answered, found
nothing, failed at the source, refused later by a check of the served step such as a bad cursor).
Refusals before it (out of grant, over the limit) take no slot; they are counted as the day's refusals
when their usage records are written.

The stored second only moves forward: a call whose clock second is already past (a thread that read the
clock just before another moved the counter on) takes its slot in the stored second, so no clock second
ever holds more than the limit.

Slots are taken by the callers themselves, in turns (as `gateway.service.RecordWriter` writes records): a
caller that finds no turn under way takes its slot at once; callers arriving meanwhile queue, and the first
of them then takes the slots of all queued by then: one UPDATE of `count` slots for the calls of one grant
and second when they all fit, else one by one until one is refused. Every statement runs in autocommit: it
is its own transaction, the smallest there is, and holds SQLite's write lock or PostgreSQL's row lock only
while it runs, inside the driver, never across Python code waiting for the GIL (which would hold up every
writer of every process meanwhile). The statements of a slot need no common transaction: each changes
nothing unless it takes the slots, and what a refusal reads only ever grew. On SQLite each process takes
its turns on one connection of its own (busy_timeout 0): a turn that meets another process's write lock
tries again after 0.05-0.5 ms (`db.retrying_busy`), never in SQLite's sleeping busy handler (1, 2, 5,
10 … ms), and the callers that queue meanwhile join it. On PostgreSQL a turn runs on a pooled connection."""

from __future__ import annotations

import contextlib
import threading
import weakref

from sqlalchemy import BigInteger, Integer, bindparam, case, select, update
from sqlalchemy.dialects.postgresql import insert

from govshare.db import Database, retrying_busy
from govshare.gateway.models import GrantUsageDay
from govshare.prepared import Prepared, Raw

# the quota of a grant without one, and the bound of both limits: more calls than a day can hold (and an
# INTEGER column's largest value)
NO_QUOTA = 2**31 - 1

_day = GrantUsageDay.__table__.c
_second = bindparam("second", type_=BigInteger)
_count = bindparam("count", type_=Integer)
_same_second = _day.second >= _second  # this second, or a later one already counted (the call is late)

# `count` slots at once or none: the second has room for all of them (a new second: when they fit the
# rate) and so has the day
TAKE_SLOTS = Prepared(
    update(GrantUsageDay.__table__)
    .where(_day.grant_id == bindparam("grant"), _day.day == bindparam("today"),
           case((_same_second, _day.second_calls + _count), else_=_count) <= bindparam("rate", type_=Integer),
           _day.calls + _count <= bindparam("quota", type_=Integer))
    .values(calls=_day.calls + _count,
            second_calls=case((_same_second, _day.second_calls + _count), else_=_count),
            second=case((_same_second, _day.second), else_=_second)))
# (the PostgreSQL construct compiles on SQLite too: both say ON CONFLICT (grant_id, day) DO NOTHING)
FIRST_SLOTS = Prepared(
    insert(GrantUsageDay.__table__)
    .values(grant_id=bindparam("grant"), day=bindparam("today"), calls=_count, rows=0, refusals=0, second=_second,
            second_calls=_count)
    .on_conflict_do_nothing(index_elements=["grant_id", "day"]))
DAY_ROW = Prepared(select(_day.calls, _day.second, _day.second_calls)
                   .where(_day.grant_id == bindparam("grant"), _day.day == bindparam("today")))
ATTEMPTS = 3  # a row that seemed to have room after the UPDATE found none: another process moved it meanwhile


def take_slots(raw: Raw, values: dict, count: int = 1) -> int | None:
    """Takes `count` slots of the grant's second and day, all or none; None when taken, else the calls of
    the day that the refusal met (the quota's when they reach it, the rate's otherwise: calls only grow
    within a day). A refusal costs the UPDATE and one read of the row; a day's first call inserts it."""
    values = {**values, "count": count}
    calls = 0
    for _ in range(ATTEMPTS):
        if TAKE_SLOTS.run(raw, values):
            return None
        rows = DAY_ROW.rows(raw, values)
        if not rows:
            if count > values["rate"] or count > values["quota"]:
                return 0
            if FIRST_SLOTS.run(raw, values):
                return None
            continue  # another process inserted the row meanwhile
        row = rows[0]
        calls = row.calls
        in_second = row.second_calls if row.second >= values["second"] else 0
        if in_second + count > values["rate"] or calls + count > values["quota"]:
            return calls
        # room now: the row was inserted, or its second moved on, between the UPDATE and the read
    return calls


class _Want:
    """One call's slot on its way: once `decided`, the day's calls its refusal met (None: taken), or else the
    error of its turn; and how its caller is woken: once it is decided or failed, or to lead the next turn."""

    __slots__ = ("calls", "decided", "error", "lead", "values", "woken")

    def __init__(self, values: dict) -> None:
        self.values, self.calls, self.decided, self.error, self.lead = values, None, False, None, False
        self.woken = threading.Event()


class Slots:
    """The turns of one Database's slots (see the module's docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = weakref.ref(db)  # lives as long as its Database, not longer
        self.sqlite = db.engine.dialect.name == "sqlite"
        self.lock = threading.Lock()
        self.queued: list[_Want] = []
        self.turn: list[_Want] = []  # the wants of the turn under way
        self.taking = False
        self.connection: Raw | None = None  # SQLite: used by one leader at a time
        self.generation = db.disposals

    def take(self, values: dict) -> int | None:
        want = _Want(values)
        with self.lock:
            self.queued.append(want)
            lead = not self.taking
            self.taking = True
        if not lead:
            want.woken.wait()
        if lead or want.lead:
            self._lead()
        if want.error is not None:
            raise want.error
        return want.calls

    def _lead(self) -> None:
        """Takes the slots of everything queued, then passes the lead to the first caller queued since. A
        failed statement is tried once more on a fresh connection (a restarted database fails nobody; a
        statement whose connection was lost may have taken its slot all the same: the limit errs on the
        safe side); what fails again fails its callers."""
        with self.lock:
            turn, self.queued = self.queued, []
            self.turn = turn
        try:
            try:
                self._take(turn)
            except Exception:
                self._drop_connection()
                self._take(turn)
        except Exception as error:
            self._drop_connection()
            for want in turn:
                if not want.decided:
                    want.error = error
        finally:
            with self.lock:
                successor = self.queued[0] if self.queued else None
                self.taking = successor is not None
            for want in turn:
                if not want.decided and want.error is None:  # the leader was interrupted
                    want.error = RuntimeError("rate-limit slot not taken")
                want.woken.set()
            if successor is not None:
                successor.lead = True
                successor.woken.set()

    def _take(self, turn: list[_Want]) -> None:
        """Decides the turn's wants not decided yet. On SQLite, callers that queue while another process's
        write lock is awaited join the turn (`turn` grows), so they need not wait for one more."""
        db = self._db()
        if not self.sqlite:
            with db.raw() as raw:  # autocommit: each statement is its own transaction
                _take_groups(raw, turn)
            return
        if self.connection is None or self.generation != db.disposals:  # none yet, or closed by dispose
            self.connection, self.generation = db.writer_connection(), db.disposals
        raw = self.connection

        def join() -> None:
            with self.lock:
                turn.extend(self.queued)
                self.queued.clear()

        retrying_busy(lambda: _take_groups(raw, turn), join)

    def _drop_connection(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):  # already closed or broken: nothing left to release
                self.connection.connection.close()
            self.connection = None


def _take_groups(raw: Raw, turn: list[_Want]) -> None:
    """Decides the wants not decided yet, grouped by grant and clock second, the earliest second first (a
    later second never goes before an earlier one). Safe to repeat after SQLite answered busy: a
    statement refused as busy changed nothing, and a want is decided only by a statement that ran."""
    groups: dict[tuple, list[_Want]] = {}
    for want in turn:
        if not want.decided:
            values = want.values
            key = (values["second"], values["grant"], values["today"], values["rate"], values["quota"])
            groups.setdefault(key, []).append(want)
    for key in sorted(groups):
        _take_group(raw, groups[key])


def _take_group(raw: Raw, wants: list[_Want]) -> None:
    """The slots of calls of one grant and clock second: all with one statement when they fit, else one by
    one until one is refused (the others then are too: counters only grow)."""
    values = wants[0].values
    if len(wants) > 1 and take_slots(raw, values, len(wants)) is None:
        for want in wants:
            want.decided = True  # taken (calls None)
        return
    refused = None
    for want in wants:
        if refused is None:
            refused = take_slots(raw, values)
        want.calls, want.decided = refused, True


_slots: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_slots_lock = threading.Lock()


def slots(db: Database) -> Slots:
    with _slots_lock:
        found = _slots.get(db)
        if found is None:
            found = _slots[db] = Slots(db)
        return found


def reserve(db: Database, grant_id: int, today, second: int, rate: int, quota: int | None) -> int | None:
    """Takes one slot of the grant's clock second `second` (at most `rate`) and of its day `today` (at most
    `quota` calls; None or 0: no quota). None when taken; else the day's calls the refusal met."""
    return slots(db).take({"grant": grant_id, "today": today, "second": second, "rate": min(rate, NO_QUOTA),
                           "quota": min(quota or NO_QUOTA, NO_QUOTA)})
