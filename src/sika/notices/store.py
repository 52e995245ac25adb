"""Preferences in the database: read (defaults for a number never seen), change, opt out, consent asked."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from sika.arrays import text_array
from sika.notices.preferences import Preferences, Quiet
from sika.notices.schema import notice_preferences
from sika.prepared import Prepared

__all__ = ["PreferenceStore"]

_UNSET: Any = object()
# Numbers known to have been asked for consent, kept by each process (asked once stays asked): at
# most this many, forgotten all at once beyond.
ASKED_KNOWN_MAX = 100_000
# How long a batch's "not asked yet" stands for its own turns, which come within a pass.
NOT_ASKED_FRESH_NS = 2_000_000_000


_PREFERENCES = Prepared(select(notice_preferences).where(
    notice_preferences.c.msisdn == bindparam("b_msisdn")))
_ASKED_AMONG = Prepared(select(notice_preferences.c.msisdn).where(
    notice_preferences.c.msisdn.in_(bindparam("b_numbers", expanding=True)),
    notice_preferences.c.consent_asked_at_ns.is_not(None)))


# Consent asked, in the caller's transaction, for a batch's new numbers: each number's row made or
# marked. On SQLite one run a number (statements cost microseconds there); on PostgreSQL one statement
# for them all, the numbers as an array (a run a number was a round trip each).
def _asked_upsert_sqlite() -> Prepared:
    insert = sqlite.insert(notice_preferences).values(
        msisdn=bindparam("msisdn"), consent_asked_at_ns=bindparam("now"), updated_at_ns=bindparam("now"))
    return Prepared(insert.on_conflict_do_update(index_elements=["msisdn"], set_={
        "consent_asked_at_ns": insert.excluded.consent_asked_at_ns,
        "updated_at_ns": insert.excluded.updated_at_ns}))


_ASKED_SQLITE = _asked_upsert_sqlite()
_ASKED_POSTGRES = Prepared(text(
    "INSERT INTO notice_preferences (msisdn, consent_asked_at_ns, updated_at_ns)"
    " SELECT m.msisdn, CAST(:now AS BIGINT), CAST(:now AS BIGINT)"
    " FROM unnest(CAST(:numbers AS TEXT[])) AS m(msisdn)"
    " ON CONFLICT (msisdn) DO UPDATE SET consent_asked_at_ns = excluded.consent_asked_at_ns,"
    " updated_at_ns = excluded.updated_at_ns"))


class PreferenceStore:
    def __init__(self, engine: Engine, *, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._engine = engine
        self._clock_ns = clock_ns
        self._asked: set[str] = set()
        # Each thread's last batch: its numbers not asked yet, with when that was read (the batch's
        # own turns ask right after, in that thread; each answer is taken once, as the batch may mark
        # the number asked itself). Another thread's batch neither feeds nor wipes it.
        self._batch = threading.local()

    def get(self, msisdn: str) -> Preferences:
        """The number's preferences; a number that never chose has the defaults (no marketing)."""
        row = _PREFERENCES.first(self._engine, {"b_msisdn": msisdn})
        return Preferences(**row._mapping) if row is not None else Preferences(msisdn=msisdn)

    def change(self, msisdn: str, *, quiet: Quiet | None = None, marketing: bool | None = None,
               via: str = "api", city: str | None = _UNSET) -> Preferences:
        """Set what is given; a change of marketing consent records when and how."""
        now = self._clock_ns()
        current = self.get(msisdn)
        values: dict[str, Any] = {"updated_at_ns": now}
        if quiet is not None:
            values["quiet"] = quiet
        if city is not _UNSET:
            values["city"] = city
        if marketing is not None and marketing != current.marketing:
            values.update(marketing=marketing, consent_at_ns=now, consent_via=via)
        if marketing is not None and current.consent_asked_at_ns is None:
            values["consent_asked_at_ns"] = now  # they answered: never ask again
        self._upsert(msisdn, values)
        return self.get(msisdn)

    def opt_out(self, msisdn: str, *, via: str = "stop") -> bool:
        """STOP: no marketing from now on. True when they were opted in."""
        was = self.get(msisdn).marketing
        self.change(msisdn, marketing=False, via=via)
        return was

    def pause_marketing(self, msisdn: str, until_ns: int) -> None:
        """WhatsApp refused marketing to this person (Meta's 131049): none before ``until_ns``."""
        self._upsert(msisdn, {"marketing_paused_until_ns": until_ns, "updated_at_ns": self._clock_ns()})

    def opted_in(self, limit: int = 100_000) -> list[str]:
        """The numbers that agreed to marketing (a broadcast's audience), at most ``limit``."""
        with self._engine.connect() as connection:
            rows = connection.execute(select(notice_preferences.c.msisdn).where(
                notice_preferences.c.marketing.is_(True)).order_by(notice_preferences.c.msisdn).limit(limit))
            return [row[0] for row in rows]

    def asked(self, msisdn: str) -> bool:
        """Whether the consent question was asked (answered or not). Once true it stays true, so it
        is read once per number and process: the chat asks this after nearly every message. A "not
        yet" that :meth:`learn_asked` read for the batch is taken once, fresh, instead of a read."""
        if msisdn in self._asked:
            return True
        learned = self._not_asked().pop(msisdn, None)
        if learned is not None and time.monotonic_ns() - learned < NOT_ASKED_FRESH_NS:
            return False  # read with the batch a moment ago: no second read
        if self.get(msisdn).consent_asked_at_ns is None:
            return False
        if len(self._asked) >= ASKED_KNOWN_MAX:
            self._asked.clear()
        self._asked.add(msisdn)
        return True

    def learn_asked(self, numbers: Collection[str]) -> None:
        """Read at once which of ``numbers`` were asked already (a batch of chat messages is about to
        ask :meth:`asked` of each). Those that were not are kept for this thread's :meth:`asked`, each
        once and for ``NOT_ASKED_FRESH_NS``; the previous batch's are forgotten, read or not."""
        self._batch.not_asked = {}
        unknown = sorted(set(numbers) - self._asked)
        if not unknown:
            return
        assert len(unknown) <= ASKED_KNOWN_MAX
        found = {row.msisdn for row in _ASKED_AMONG.all(self._engine, {"b_numbers": unknown})}
        if len(self._asked) + len(found) >= ASKED_KNOWN_MAX:
            self._asked.clear()
        self._asked.update(found)
        learned = time.monotonic_ns()
        self._batch.not_asked = {number: learned for number in unknown if number not in found}

    def mark_asked(self, msisdn: str) -> bool:
        """Record that consent was asked; False when it had been already (ask once)."""
        if self.asked(msisdn):
            return False
        now = self._clock_ns()
        self._upsert(msisdn, {"consent_asked_at_ns": now, "updated_at_ns": now})
        return True

    def mark_asked_in(self, connection: Connection, msisdns: Sequence[str]) -> None:
        """:meth:`mark_asked`'s write for these numbers, in the caller's transaction (the caller knows
        they were not asked)."""
        not_asked = self._not_asked()
        for msisdn in msisdns:
            not_asked.pop(msisdn, None)
        if not msisdns:
            return
        now = self._clock_ns()
        if connection.dialect.name == "postgresql":
            # Sorted: concurrent batches lock the rows of the numbers they share in one order.
            _ASKED_POSTGRES.execute(connection, {"numbers": text_array(sorted(set(msisdns))), "now": now})
        else:
            _ASKED_SQLITE.execute_many(connection, [{"msisdn": msisdn, "now": now} for msisdn in msisdns])

    def _not_asked(self) -> dict[str, int]:
        """This thread's last batch's numbers not asked yet (:meth:`learn_asked`)."""
        found: dict[str, int] = getattr(self._batch, "not_asked", {})
        return found

    def _upsert(self, msisdn: str, values: dict[str, Any]) -> None:
        self._not_asked().pop(msisdn, None)  # a STOP or an answer in the batch: asked() reads again
        with self._engine.begin() as connection:
            _upsert(connection, msisdn, values)


def _upsert(connection: Connection, msisdn: str, values: dict[str, Any]) -> None:
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    connection.execute(dialect.insert(notice_preferences).values(msisdn=msisdn, **values)
                       .on_conflict_do_nothing(index_elements=["msisdn"]))
    connection.execute(update(notice_preferences).where(notice_preferences.c.msisdn == msisdn)
                       .values(**values))
