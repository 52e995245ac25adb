"""``sika campaign``: campaigns from the command line (the same service as ``/v1/campaigns``).

``create`` prints the new campaign's id alone on the last line; ``verify-draw`` re-runs a draw from
what it published (from this database, or from a server's public draw pages with ``--url``) and exits
0 when the winners follow, 1 otherwise.
"""

from __future__ import annotations

import json
import secrets
import sys
import urllib.request
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from sika.cli.context import container

__all__ = ["app"]

app = typer.Typer(
    help="Campaigns and promotions: budgets in the ledger, rewards, draws.", no_args_is_help=True
)
_HTTP_TIMEOUT_S = 10
_HTTP_BYTES_MAX = 64 * 1024 * 1024


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _show(view_json: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _echo_json(view_json)
        return
    table = Table(show_header=False)
    for name in (
        "id",
        "name",
        "kind",
        "status",
        "sponsor",
        "city",
        "starts_at",
        "ends_at",
        "budget",
        "spent",
        "reserved",
        "remaining",
        "funded",
        "returned",
        "clawed_back",
        "rewards",
        "entries",
        "account_id",
    ):
        table.add_row(name, str(view_json[name]))
    table.add_row("rules", json.dumps(view_json["rules"], ensure_ascii=False))
    Console().print(table)


def _view(campaign_id: str) -> dict[str, Any]:
    from sika.api.promotions import campaign_out

    with container() as c:
        return campaign_out(c, c.promotions.campaigns.view(campaign_id)).model_dump(mode="json")


@app.command("create")
def create(
    *,
    name: str = typer.Option(..., help="What customers see, e.g. 'Ramadan cashback'."),
    kind: str = typer.Option(..., help="cashback, airtime_bonus, ride_discount, referral or prize_draw."),
    budget: int = typer.Option(
        ..., min=0, help="The planned budget in francs (start tops the account up to it)."
    ),
    rules: str = typer.Option(
        ..., help='JSON, e.g. \'{"percent": 5, "reward_max": 500, "operations": ["transfer"]}\''
    ),
    starts_at: str | None = typer.Option(None, help="ISO-8601; without an offset, the city's wall clock."),
    ends_at: str | None = typer.Option(None, help="ISO-8601; without an offset, the city's wall clock."),
    sponsor: str = typer.Option("platform", help="platform, merchant:<id> or operator:<provider>."),
    city: str = typer.Option("lome", help="Whose clock and prayer times its windows follow."),
) -> None:
    """Create a draft campaign; its id is printed alone on the last line."""
    from sika.errors import SikaError

    try:
        parsed = json.loads(rules)
    except json.JSONDecodeError as exc:
        raise SikaError(f"--rules is not JSON: {exc.msg}", code="invalid_campaign") from exc
    with container() as c:
        made = c.promotions.campaigns.create(
            name=name,
            kind=kind,
            budget=budget,
            rules=parsed,
            starts_at=starts_at,
            ends_at=ends_at,
            sponsor=sponsor,
            city=city,
        )
    typer.echo(f"created {made.kind} campaign {made.name!r} (draft); fund it or start it:", err=True)
    typer.echo(made.id)


@app.command("fund")
def fund(
    campaign_id: str = typer.Argument(...),
    amount: int = typer.Argument(..., min=1, help="Francs to move into the budget."),
    source: str | None = typer.Option(None, help="Who pays, when not the sponsor."),
    reference: str | None = typer.Option(None, help="Funding with the same reference twice moves it once."),
) -> None:
    """Fund a campaign's budget with a real transfer from its sponsor (or --source)."""
    key = f"cli:{reference}" if reference else f"cli:{secrets.token_hex(12)}"
    with container() as c:
        c.promotions.campaigns.fund(campaign_id, amount, key=key, source=source)
    _show(_view(campaign_id), False)


def _life(action: str, doc: str) -> None:
    def command(
        campaign_id: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json")
    ) -> None:
        with container() as c:
            getattr(c.promotions.campaigns, action)(campaign_id)
        _show(_view(campaign_id), as_json)

    command.__doc__ = doc
    app.command(action)(command)


_life(
    "start", "Start (or resume) a campaign; its budget is topped up to the planned figure from the sponsor."
)
_life("pause", "Pause a campaign.")
_life("end", "End a campaign and return its unspent budget to the sponsor.")


@app.command("show")
def show(campaign_id: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
    """A campaign: its rules, where it stands, its money (spent + reserved + remaining = budget)."""
    _show(_view(campaign_id), as_json)


@app.command("list")
def list_(
    limit: int = typer.Option(50, min=1, max=200), as_json: bool = typer.Option(False, "--json")
) -> None:
    """Campaigns, newest first."""
    from sika.api.promotions import campaign_out

    with container() as c:
        found = [campaign_out(c, v).model_dump(mode="json") for v in c.promotions.campaigns.list(limit)]
    if as_json:
        _echo_json(found)
        return
    table = Table("id", "name", "kind", "status", "budget", "spent", "reserved", "remaining", "rewards")
    for v in found:
        table.add_row(
            *(
                str(v[k])
                for k in (
                    "id",
                    "name",
                    "kind",
                    "status",
                    "budget",
                    "spent",
                    "reserved",
                    "remaining",
                    "rewards",
                )
            )
        )
    Console().print(table)


@app.command("codes")
def codes(
    campaign_id: str = typer.Argument(...),
    count: int = typer.Option(..., min=1, max=100_000),
    prefix: str = typer.Option("", help="Letters before each code, e.g. RMD."),
) -> None:
    """Generate a batch of one-use codes and print it as CSV (the only copy of the codes)."""
    from sika.promotions.codes import as_csv

    with container() as c:
        campaign = c.promotions.store.get(campaign_id)
        batch, made = c.promotions.codes.generate(campaign.id, count, prefix=prefix)
    typer.echo(as_csv(campaign, batch, made), nl=False)


@app.command("draw")
def draw(
    campaign_id: str = typer.Argument(...),
    reveal: bool = typer.Option(
        False, "--reveal", help="Reveal the latest committed draw (pays the prizes)."
    ),
) -> None:
    """Commit a draw (entries close, the seed's hash is published), or with --reveal reveal it."""
    with container() as c:
        draws = c.promotions.draws
        if not reveal:
            published = draws.commit(campaign_id).published()
        else:
            pending = [d for d in draws.of_campaign(campaign_id) if d.status == "committed"]
            if not pending:
                from sika.promotions import DrawStateError

                raise DrawStateError("no committed draw to reveal: commit one first")
            published = draws.reveal(pending[0].id).published()
    _echo_json(published)


@app.command("verify-draw")
def verify_draw(
    draw_or_campaign: str = typer.Argument(
        ..., metavar="ID", help="A draw (dr_…) or a campaign (all its draws)."
    ),
    url: str | None = typer.Option(None, help="Read the published draw from this server (http://host:port)."),
) -> None:
    """Re-run revealed draws from what they published; exit 0 when they hold, 1 otherwise."""
    from sika.promotions.drawing import verify

    problems: dict[str, list[str]] = {}
    for published, entrants in _published(draw_or_campaign, url):
        if published.get("seed") is None:
            problems[published["id"]] = ["the draw is not revealed yet"]
            continue
        problems[published["id"]] = verify(
            seed=published["seed"],
            commitment_hex=published["commitment"],
            entry_ids=entrants,
            entrants_hex=published["entrants_sha256"],
            prizes=len(published["prizes"]),
            published_winners=published["winners"],
        )
    for draw_id, found in problems.items():
        typer.echo(
            f"{draw_id}: "
            + (
                "holds: the seed and the entrants give the published winners"
                if not found
                else "; ".join(found)
            )
        )
    _echo_json({"verified": not any(problems.values()) and bool(problems), "draws": problems})
    if any(problems.values()) or not problems:
        sys.exit(1)


def _published(ident: str, url: str | None) -> list[tuple[dict[str, Any], list[str]]]:
    if url is not None:
        if not ident.startswith("dr_"):
            from sika.errors import SikaError

            raise SikaError("with --url, give a draw id (dr_…)", code="validation_error")
        base = url.rstrip("/")
        return [
            (
                _get_json(f"{base}/v1/draws/{ident}"),
                list(_get_json(f"{base}/v1/draws/{ident}/entrants")["items"]),
            )
        ]
    with container() as c:
        draws = c.promotions.draws
        found = [draws.get(ident)] if ident.startswith("dr_") else draws.of_campaign(ident)
        return [(d.published(), draws.entrants(d.id)) for d in found]


def _get_json(address: str) -> Any:
    from sika.errors import SikaError

    if not address.startswith(("http://", "https://")):
        raise SikaError("--url: an http:// or https:// address", code="validation_error")
    try:
        with urllib.request.urlopen(address, timeout=_HTTP_TIMEOUT_S) as answer:  # noqa: S310 (scheme checked)
            return json.loads(answer.read(_HTTP_BYTES_MAX))
    except (OSError, ValueError) as exc:
        raise SikaError(f"could not read {address}: {exc}", code="unreachable") from exc


@app.command("forecast")
def forecast(
    campaign_id: str = typer.Argument(...),
    days: int = typer.Option(7, min=1, max=90, help="How many past days to replay."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Replay the last days' payments through the campaign's rules: budget burn, and when it runs out."""
    with container() as c:
        result = c.promotions.forecast(campaign_id, days).as_json()
    if not as_json:
        table = Table("date", "rewards", "francs")
        for day in result["per_day"]:  # type: ignore[attr-defined]
            table.add_row(day["date"], str(day["rewards"]), str(day["amount"]))
        Console().print(table)
        out = result["runs_out_on"] or "not within the replayed pace (nothing would be paid)"
        typer.echo(
            f"{result['payments']} payments replayed, {result['rewarded']} rewarded, {result['amount']} XOF "
            f"over {days} days ({result['daily_average']} a day); {result['budget_left']} XOF left; "
            f"runs out: {out}"
        )
    _echo_json(result)
