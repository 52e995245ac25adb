"""``sika notifications``: what the notification policy does for a customer (docs/notifications.md).

``explain`` prints a few lines for people, then, as the last line of stdout, one JSON object for
scripts: ``category``, ``send_at`` (ISO-8601 with offset, null when the message would be dropped) and
``reason`` (the sentence), plus ``action``, ``code``, ``city``, ``quiet`` and ``marketing``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from sika.errors import SikaError

__all__ = ["app"]

app = typer.Typer(help="The notification policy: quiet hours, consent and caps (docs/notifications.md).",
                  no_args_is_help=True, add_completion=False)

CATEGORY_HELP = "security, transaction, service or marketing"


def _instant(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise SikaError(f"{text!r} is not an ISO-8601 instant (2026-03-01T18:30+00:00)",
                        code="invalid_instant") from None
    if instant.tzinfo is None:
        raise SikaError(f"{text!r} has no offset: write it as 2026-03-01T18:30+00:00", code="invalid_instant")
    return instant


@app.command("explain")
def explain(
    msisdn: Annotated[str, typer.Argument(help="The customer's number (+228…).")],
    category: Annotated[str, typer.Option(help=CATEGORY_HELP)] = "marketing",
    at: Annotated[str | None, typer.Option(help="The instant, ISO-8601 with offset (default: now).")] = None,
    lang: Annotated[str, typer.Option(help="The language of the reason (fr en es it pt ru ar).")] = "en",
) -> None:
    """When a message of that category to that customer would go out, and why."""
    from sika import phones
    from sika.chat.i18n import translator
    from sika.chat.texts.notices import reason_text
    from sika.cli.context import container
    from sika.notices import CATEGORIES, Category

    if category not in CATEGORIES:
        raise SikaError(f"unknown category {category!r}: {CATEGORY_HELP}", code="invalid_category")
    chosen: Category = category  # narrowed by the membership test above
    number = phones.normalize(msisdn)
    instant = _instant(at)
    with container() as built:
        assert built.notices is not None
        decision, preferences, city = built.notices.decide(number, chosen, instant)
        place = built.notices.calendar.place(city)
    reason = reason_text(translator(lang), {"reason": decision.reason, **decision.values}) or decision.reason
    local = instant.astimezone(place.zone)
    consent = "yes" if preferences.marketing else "no"
    typer.echo(f"{number}: {place.name}, quiet hours {preferences.quiet}, marketing consent {consent}")
    typer.echo(f"a {category} message at {local:%Y-%m-%d %H:%M} ({place.zone.key}): {decision.action}")
    typer.echo(reason)
    typer.echo(json.dumps({"category": category,
                           "send_at": decision.send_at.isoformat() if decision.send_at else None,
                           "reason": reason, "action": decision.action, "code": decision.reason,
                           "city": city, "quiet": preferences.quiet, "marketing": preferences.marketing},
                          ensure_ascii=False))


@app.command("broadcast")
def broadcast(
    campaign: Annotated[str, typer.Argument(help="The campaign's id (a-z, 0-9, _): the message kind is "
                                                 "marketing_<campaign>.")],
    text: Annotated[str, typer.Option(help="What the promotion says (the template's {{1}}).")],
    to: Annotated[list[str] | None, typer.Option(help="A recipient's number (repeat); default: every "
                                                      "customer who agreed to marketing.")] = None,
    tier: Annotated[int, typer.Option(help="The number's messaging tier: people a day (1000, 10000, "
                                           "100000; 0: unlimited).")] = 1_000,
    rate: Annotated[float, typer.Option(help="Messages a second at most.")] = 20.0,
) -> None:
    """Announce a campaign: one promotion per customer, paced, through the notification policy."""
    from rich.progress import Progress

    from sika.cli.context import container
    from sika.notices.broadcast import announce

    with container() as built:
        assert built.notices is not None
        recipients = list(to) if to else built.notices.store.opted_in()
        with Progress(transient=True) as bar:
            task = bar.add_task("announcing", total=len(recipients))
            report = announce(built.notices, campaign=campaign, text=text, recipients=recipients,
                              now=datetime.now(UTC), tier=tier, rate_per_s=rate,
                              progress=lambda done: bar.update(task, completed=done))
    typer.echo(f"{len(recipients)} recipients: {report.queued} queued to go now, {report.held} queued for "
               f"later, {report.dropped} dropped, {report.failed} failed, {report.already} already queued"
               " (the outbox workers send them)")
    typer.echo(json.dumps(report.as_json(), ensure_ascii=False))
