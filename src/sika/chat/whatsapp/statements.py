"""The WhatsApp store's hot statements, made once per dialect and run through the driver
(:mod:`sika.prepared`): building one through SQLAlchemy cost as much as running it, and running it
ten times what SQLite takes."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from sika.chat.messages import MASK
from sika.chat.whatsapp.schema import contacts, inbox, outbound
from sika.payments.queue import queued
from sika.prepared import Prepared

__all__ = [
    "ADD_INBOUNDS_POSTGRES",
    "ADD_INBOUNDS_SQLITE",
    "DONE_MANY",
    "ENQUEUE_MANY_POSTGRES",
    "ENQUEUE_MANY_SQLITE",
    "FINISHED_MANY_POSTGRES",
    "INBOX_KNOWN",
    "KNOWN",
    "LAST_INBOUND",
    "LAST_INBOUNDS",
    "MASKED",
    "OLDER_DUE",
    "OPEN_WINDOWS_POSTGRES",
    "QUEUED_BEFORE",
    "QUEUED_BEFORE_POSTGRES",
    "SENT",
    "SENT_MANY_POSTGRES",
    "WAITING",
    "WAITING_POSTGRES",
    "dialect_of",
    "statements_of",
]


@dataclasses.dataclass(frozen=True, slots=True)
class Statements:
    """The statements that differ between the dialects."""

    open_window: Prepared
    enqueue: Prepared


def _named(*keys: str) -> dict[str, Any]:
    return {key: bindparam(key) for key in keys}


_BUILT: dict[str, Statements] = {}


def statements_of(connection: Connection) -> Statements:
    name = connection.dialect.name
    built = _BUILT.get(name)
    if built is None:
        dialect = dialect_of(connection)
        fresh = dialect.insert(contacts).values(_named("msisdn", "last_inbound_at_ns"))
        built = Statements(
            open_window=Prepared(fresh.on_conflict_do_update(
                index_elements=["msisdn"],
                set_={"last_inbound_at_ns": case(
                    (fresh.excluded.last_inbound_at_ns > contacts.c.last_inbound_at_ns,
                     fresh.excluded.last_inbound_at_ns),
                    else_=contacts.c.last_inbound_at_ns)})),
            enqueue=Prepared(insert(outbound).values(_named(
                "msisdn", "body_json", "secret_body_json", "status", "attempts", "lease_until_ns",
                "next_attempt_ns", "created_at_ns", "updated_at_ns", "source_key"))
                .returning(outbound.c.source_key, outbound.c.id)),
        )
        _BUILT[name] = built
    return built


# SQLite: a webhook group's messages in one driver call (executemany), after reading which of their ids
# are stored already (INBOX_KNOWN) under the same write lock; one INSERT … RETURNING a message cost
# 25–35 µs each under it.
_INBOUND_COLUMNS = ("message_id", "msisdn", "kind", "text", "choice_id", "status", "attempts", "payload_json",
                    "next_attempt_ns", "received_at_ns")
ADD_INBOUNDS_SQLITE = Prepared(sqlite.insert(inbox).values(_named(*_INBOUND_COLUMNS))
                               .on_conflict_do_nothing(index_elements=["message_id"]))
INBOX_KNOWN = Prepared(select(inbox.c.message_id).where(
    inbox.c.message_id.in_(bindparam("ids", expanding=True))))
# SQLite: a batch's answers in one driver call (executemany), their ids then read by key (KNOWN); one
# INSERT … RETURNING a row cost 30–40 µs each under the write lock.
ENQUEUE_MANY_SQLITE = Prepared(insert(outbound).values(_named(
    "msisdn", "body_json", "secret_body_json", "status", "attempts", "lease_until_ns", "next_attempt_ns",
    "created_at_ns", "updated_at_ns", "source_key")))
WAITING = Prepared(select(outbound.c.msisdn).distinct().where(
    outbound.c.msisdn.in_(bindparam("numbers", expanding=True)), queued(outbound)))
# PostgreSQL: the (msisdn, id) index of queued rows probed once a number (a LATERAL subquery with a
# LIMIT is never flattened into the outer query: it runs once a number). As a join, a plan made before
# the table's statistics knew how many rows wait (a fresh database, a burst: a column without
# statistics reads as rare) walked every queued row and kept the batch's numbers: the backlog's whole
# length at every batch (docs/scaling.md).
WAITING_POSTGRES = Prepared(text(
    "SELECT m.msisdn FROM unnest(CAST(:numbers AS TEXT[])) AS m(msisdn) CROSS JOIN LATERAL"
    " (SELECT 1 FROM wa_outbound o WHERE o.msisdn = m.msisdn AND o.status = 'queued' LIMIT 1) AS q"))
KNOWN = Prepared(select(outbound.c.source_key, outbound.c.id).where(
    outbound.c.source_key.in_(bindparam("keys", expanding=True))))


QUEUED_BEFORE = {table.name: Prepared(
    select(table.c.msisdn, table.c.id, table.c.next_attempt_ns)
    .where(table.c.msisdn.in_(bindparam("numbers", expanding=True)), queued(table),
           table.c.id < bindparam("last"), table.c.id.not_in(bindparam("ids", expanding=True)))
    .order_by(table.c.id)) for table in (inbox, outbound)}
# At most this many of a person's earlier rows are read, the oldest first. A batch's message with an
# earlier one still waiting always sees the oldest, so it still waits; only the time it is looked at
# again may come later than the soonest of its earlier rows' times.
EARLIER_MAX = 100
# PostgreSQL: as WAITING_POSTGRES, one probe of the (msisdn, id) index a number (the table: ours).
QUEUED_BEFORE_POSTGRES = {table.name: Prepared(text(
    "SELECT q.msisdn, q.id, q.next_attempt_ns"  # noqa: S608
    " FROM unnest(CAST(:numbers AS TEXT[])) AS m(msisdn)"
    f" CROSS JOIN LATERAL (SELECT t.msisdn, t.id, t.next_attempt_ns FROM {table.name} t"
    " WHERE t.msisdn = m.msisdn AND t.status = 'queued' AND t.id < CAST(:last AS BIGINT)"
    f" AND t.id <> ALL(CAST(:ids AS BIGINT[])) ORDER BY t.id LIMIT {EARLIER_MAX}) AS q ORDER BY q.id"))
    for table in (inbox, outbound)}


SENT = Prepared(update(outbound)
                 .where(outbound.c.id == bindparam("row_id"), outbound.c.lease_until_ns == bindparam("lease"))
                 .values(status="sent", wamid=bindparam("sent_wamid"), secret_body_json=None,
                         lease_until_ns=None, error_code=None, updated_at_ns=bindparam("now")))

# PostgreSQL: a pass's sends recorded by one statement (executemany would run SENT once a row, each
# parsed, planned and answered on the server), the rows as arrays (sika.arrays).
SENT_MANY_POSTGRES = Prepared(text(
    "UPDATE wa_outbound AS o SET status = 'sent', wamid = v.wamid, secret_body_json = NULL,"
    " lease_until_ns = NULL, error_code = NULL, updated_at_ns = :now"
    " FROM unnest(CAST(:ids AS BIGINT[]), CAST(:leases AS BIGINT[]), CAST(:wamids AS TEXT[]))"
    " AS v(id, lease, wamid) WHERE o.id = v.id AND o.lease_until_ns = v.lease"
    # The rows by their key, whatever the statistics say (docs/scaling.md).
    " AND o.id = ANY(CAST(:ids AS BIGINT[]))"))

# PostgreSQL: a webhook group's messages stored by one statement, in order (ids ascend as they came),
# each message id once (a second delivery, even within the group, is not returned).
ADD_INBOUNDS_POSTGRES = Prepared(text(
    "INSERT INTO wa_inbox (message_id, msisdn, kind, text, choice_id, payload_json, status, attempts,"
    " next_attempt_ns, received_at_ns)"
    " SELECT v.message_id, v.msisdn, v.kind, v.body, v.choice_id, v.payload_json, 'queued', 0, v.at, v.at"
    " FROM unnest(CAST(:message_ids AS TEXT[]), CAST(:msisdns AS TEXT[]), CAST(:kinds AS TEXT[]),"
    " CAST(:texts AS TEXT[]), CAST(:choice_ids AS TEXT[]), CAST(:payload_jsons AS TEXT[]),"
    " CAST(:ats AS BIGINT[]))"
    " WITH ORDINALITY AS v(message_id, msisdn, kind, body, choice_id, payload_json, at, n)"
    " ORDER BY v.n ON CONFLICT (message_id) DO NOTHING RETURNING message_id"))
# And their senders' windows opened by one (each number once, in one order for every writer).
OPEN_WINDOWS_POSTGRES = Prepared(text(
    "INSERT INTO wa_contacts (msisdn, last_inbound_at_ns)"
    " SELECT * FROM unnest(CAST(:msisdns AS TEXT[]), CAST(:ats AS BIGINT[]))"
    " ON CONFLICT (msisdn) DO UPDATE SET last_inbound_at_ns ="
    " GREATEST(wa_contacts.last_inbound_at_ns, excluded.last_inbound_at_ns)"))


LAST_INBOUND = Prepared(select(contacts.c.last_inbound_at_ns)
                         .where(contacts.c.msisdn == bindparam("b_msisdn")))
LAST_INBOUNDS = Prepared(select(contacts.c.msisdn, contacts.c.last_inbound_at_ns)
                          .where(contacts.c.msisdn.in_(bindparam("numbers", expanding=True))))


# PostgreSQL: many answers queued by one statement, RETURNING their ids, the rows as arrays: one text
# whatever their number (a multi-row INSERT had a text for each count, split by the driver and parsed
# and planned by the server at every run). Inserted in the order given, so that each person's ids
# ascend as their answers go.
ENQUEUE_MANY_POSTGRES = Prepared(text(
    "INSERT INTO wa_outbound (msisdn, body_json, secret_body_json, status, attempts, lease_until_ns,"
    " next_attempt_ns, created_at_ns, updated_at_ns, source_key)"
    " SELECT v.msisdn, v.body_json, v.secret_body_json, 'queued', v.attempts, v.lease_until_ns,"
    " :now, :now, :now, v.source_key"
    " FROM unnest(CAST(:msisdn_all AS TEXT[]), CAST(:body_json_all AS TEXT[]),"
    " CAST(:secret_body_json_all AS TEXT[]), CAST(:attempts_all AS INTEGER[]),"
    " CAST(:lease_until_ns_all AS BIGINT[]), CAST(:source_key_all AS TEXT[]))"
    " WITH ORDINALITY AS v(msisdn, body_json, secret_body_json, attempts, lease_until_ns, source_key, n)"
    " ORDER BY v.n RETURNING source_key, id"))
# Messages of one claim (one lease) marked handled at once: one statement a batch, not one a message.
DONE_MANY = Prepared(update(inbox).where(inbox.c.id.in_(bindparam("ids", expanding=True)),
                                         inbox.c.status == "queued",
                                         inbox.c.lease_until_ns == bindparam("lease"))
                     .values(status="done", handled_at_ns=bindparam("handled_at_ns"), lease_until_ns=None))
# PostgreSQL: a batch's messages marked handled by one statement whatever their leases, those that
# held a PIN with their text masked (a NULL keeps the stored one), the rows as arrays (sika.arrays).
FINISHED_MANY_POSTGRES = Prepared(text(
    "UPDATE wa_inbox AS i SET status = 'done', handled_at_ns = :now, lease_until_ns = NULL,"
    " text = COALESCE(v.text, i.text), payload_json = COALESCE(v.payload, i.payload_json)"
    " FROM unnest(CAST(:ids AS BIGINT[]), CAST(:leases AS BIGINT[]), CAST(:texts AS TEXT[]),"
    " CAST(:payloads AS TEXT[])) AS v(id, lease, text, payload)"
    # The rows by their key, and still queued said as a range: the same rows as ``= 'queued'``, which
    # PostgreSQL would take for the predicate of the index of queued rows and, with no statistics (a
    # fresh database, a burst: a column without them reads as rare), walk that index whole, a
    # backlog's length a batch, rather than look the batch's ids up (docs/scaling.md).
    " WHERE i.id = v.id AND i.id = ANY(CAST(:ids AS BIGINT[])) AND i.lease_until_ns = v.lease"
    " AND i.status BETWEEN 'queued' AND 'queued'"))
# A PIN's message, marked handled with its text masked.
MASKED = Prepared(update(inbox).where(inbox.c.id == bindparam("row_id"), inbox.c.status == "queued",
                                      inbox.c.lease_until_ns == bindparam("lease"))
                  .values(status="done", handled_at_ns=bindparam("handled_at_ns"), lease_until_ns=None,
                          text=MASK, payload_json=bindparam("payload")))
OLDER_DUE = {table.name: Prepared(
    select(func.min(table.c.next_attempt_ns))
    .where(table.c.msisdn == bindparam("msisdn"), table.c.id < bindparam("row_id"), queued(table)))
    for table in (inbox, outbound)}


def dialect_of(connection: Connection) -> Any:
    return postgresql if connection.dialect.name == "postgresql" else sqlite
