"""A campaign announced to its customers through the policy: in Lomé at 18:00 on a Ramadan day the
opted-in customer without quiet hours gets it now, the prayer-profile one after Maghrib's window,
the one who never agreed gets nothing, a wrong number fails; announcing again queues nothing new."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import select

from sika.bootstrap import Container, bootstrap
from sika.config import Settings
from sika.notices.broadcast import InvalidCampaign, announce
from sika.payments.schema import outbox

AMA, KOFI, EFUA = "+22890112233", "+22897112233", "+22893000111"
AT = datetime.fromisoformat("2026-03-01T18:00:00+00:00")


def _ns(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp()) * 10**9


@pytest.fixture
def container(database_url: str) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url, providers="off"))
    assert built.notices is not None
    built.notices.store.change(AMA, quiet="prayer", marketing=True)
    built.notices.store.change(KOFI, marketing=True)
    yield built
    built.close()


def test_a_campaign_reaches_the_opted_in_each_at_their_time(container: Container) -> None:
    notices = container.notices
    assert notices is not None
    assert sorted(notices.store.opted_in()) == [AMA, KOFI]
    done: list[int] = []
    report = announce(notices, campaign="iftar2026", text="Iftar: -10 % on rides", recipients=[
        AMA, KOFI, EFUA, "123"], now=AT, rate_per_s=1_000, progress=done.append)
    assert report.as_json() == {"queued": 1, "held": 1, "dropped": 1, "failed": 1, "already": 0,
                                "reasons": {"quiet": 1, "no_consent": 1}}
    assert done[-1] == 3  # the wrong number is the fourth: counted as failed, no progress after it
    with container.engine.connect() as connection:
        rows = {row.msisdn: row for row in connection.execute(select(outbox))}
    assert set(rows) == {AMA, KOFI}
    assert rows[KOFI].kind == "marketing_iftar2026"
    assert rows[KOFI].next_attempt_ns < _ns("2026-03-01T18:00:01+00:00")  # now (paced by a millisecond)
    assert rows[AMA].next_attempt_ns == _ns("2026-03-01T18:27:00+00:00")  # after Maghrib's window
    again = announce(notices, campaign="iftar2026", text="Iftar: -10 % on rides", recipients=[AMA, KOFI],
                     now=AT)
    assert (again.already, again.queued, again.held) == (2, 0, 0)


def test_a_bad_campaign_id_or_text_is_refused(container: Container) -> None:
    assert container.notices is not None
    for campaign, text in (("Iftar 2026!", "x"), ("iftar", ""), ("iftar", "x" * 901)):
        with pytest.raises(InvalidCampaign):
            announce(container.notices, campaign=campaign, text=text, recipients=[AMA], now=AT)
