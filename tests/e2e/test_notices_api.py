"""Preferences over HTTP, the notifications feed saying why a promotion waits, and
``sika notifications explain`` as an operator runs it (a real process; its last line is JSON)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from console_support import Desk, operator
from e2e_support import World

from sika.bootstrap import bootstrap
from sika.config import Settings
from sika.console.operators import Role
from sika.notices.store import PreferenceStore
from sika.payments.outbox import Outbox, enqueue

AMA, KOFI = "+22890112233", "+22897112233"


def test_a_customer_sets_quiet_hours_and_consent_and_sees_them(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah")
    world.wallet(KOFI, "Kofi Agbeko")
    before = world.client.get(f"/v1/wallets/{AMA}/preferences", headers=ama)
    assert before.status_code == 200, before.text
    assert before.json() | {"marketing_consent_at": None} == {
        "msisdn": AMA, "quiet": "off", "marketing": False, "marketing_consent_at": None,
        "marketing_consent_via": None, "city": "lome"}
    put = world.client.put(f"/v1/wallets/{AMA}/preferences", headers=ama,
                           json={"quiet": "ramadan", "marketing": True})
    assert put.status_code == 200, put.text
    assert (put.json()["quiet"], put.json()["marketing"], put.json()["marketing_consent_via"]) == (
        "ramadan", True, "api")
    assert put.json()["marketing_consent_at"] is not None
    by_admin = world.client.get(f"/v1/wallets/{AMA}/preferences", headers=world.admin)
    assert by_admin.json()["quiet"] == "ramadan"


def test_another_customer_gets_404_and_nonsense_gets_422(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah")
    world.wallet(KOFI, "Kofi Agbeko")
    other = world.client.put(f"/v1/wallets/{KOFI}/preferences", headers=ama, json={"marketing": True})
    assert other.status_code == 404
    assert world.client.get(f"/v1/wallets/{KOFI}/preferences", headers=world.agent).status_code == 403
    bad = world.client.put(f"/v1/wallets/{AMA}/preferences", headers=ama, json={"quiet": "always"})
    assert bad.status_code == 422
    city = world.client.put(f"/v1/wallets/{AMA}/preferences", headers=ama, json={"city": "paris"})
    assert (city.status_code, city.json()["code"]) == (404, "unknown_city")  # as the rides API says it


def test_the_feed_says_why_a_promotion_waits(world: World) -> None:
    ama = world.wallet(AMA, "Ama Mensah")
    world.client.put(f"/v1/wallets/{AMA}/preferences", headers=ama,
                     json={"quiet": "prayer", "marketing": True})
    at = 1_772_388_000 * 10**9  # 2026-03-01 18:00 UTC, Lomé: inside Maghrib's window
    engine = world.container.engine
    with engine.begin() as connection:
        enqueue(connection, dedupe_key="promo-1", msisdn=AMA, kind="marketing_iftar",
                params={"text": "Iftar: -10 % on rides"}, now_ns=at)
    Outbox(engine, clock_ns=lambda: at, gate=world.container.notices).deliver_due()
    feed = world.client.get(f"/v1/wallets/{AMA}/notifications", headers=ama).json()["items"]
    promo = next(item for item in feed if item["kind"] == "marketing_iftar")
    assert (promo["status"], promo["category"]) == ("queued", "marketing")
    assert promo["reason"] == "retenu jusqu'à 18:27, après Maghrib"  # Ama reads French
    assert promo["text"] == "Sika : Iftar: -10 % on rides\nRépondez STOP pour ne plus recevoir d'offres."

    world.client.cookies.clear()  # an operator reads the same reason in the console's notifications log
    Desk(world.client).login("yawa", operator(world.container, "yawa", Role.VIEWER))
    log = world.client.get("/console/notifications", params={"msisdn": AMA}).text
    assert "marketing_iftar" in log and "retenu jusqu&#39;à 18:27, après Maghrib" in log


def _explain(database_url: str, *args: str) -> tuple[list[str], dict[str, object]]:
    done = subprocess.run([sys.executable, "-m", "sika", "notifications", "explain", *args],
                          env={**os.environ, "SIKA_DATABASE_URL": database_url}, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    return lines, json.loads(lines[-1])


def test_explain_answers_for_a_receipt_a_promotion_and_an_opted_out_customer(sqlite_url: str) -> None:
    built = bootstrap(Settings(database_url=sqlite_url, providers="off"))
    PreferenceStore(built.engine).change(AMA, quiet="ramadan", marketing=True)
    built.close()
    at = "2026-03-01T18:00:00+00:00"
    lines, answer = _explain(sqlite_url, AMA, "--category", "marketing", "--at", at)
    assert answer["category"] == "marketing"
    assert answer["send_at"] == "2026-03-01T18:37:00+00:00"  # the iftar hour's end, after Maghrib
    assert answer["reason"] == "held until 18:37, after Maghrib"
    assert "held until 18:37, after Maghrib" in lines[:-1]
    _, receipt = _explain(sqlite_url, AMA, "--category", "transaction", "--at", at)
    assert receipt["send_at"] == at
    assert receipt["reason"] == "sent at once: transaction messages always go at once"
    _, never = _explain(sqlite_url, KOFI, "--category", "marketing", "--at", at)
    assert never["send_at"] is None
    assert never["reason"] == "dropped: the customer has not agreed to receive marketing"


def test_explain_refuses_an_instant_without_offset_and_an_unknown_category(sqlite_url: str) -> None:
    for args in (("--at", "2026-03-01T18:00"), ("--category", "spam")):
        done = subprocess.run([sys.executable, "-m", "sika", "notifications", "explain", AMA, *args],
                              env={**os.environ, "SIKA_DATABASE_URL": sqlite_url}, capture_output=True,
                              text=True, timeout=60, check=False)
        assert done.returncode == 1
        assert done.stderr.startswith("sika: ") and ("[invalid_instant]" in done.stderr
                                                     or "[invalid_category]" in done.stderr)


def test_a_broadcast_says_it_queued_the_messages_not_that_it_sent_them(sqlite_url: str) -> None:
    built = bootstrap(Settings(database_url=sqlite_url, providers="off"))
    PreferenceStore(built.engine).change(AMA, marketing=True)  # Kofi never agreed
    built.close()
    to = ("--to", AMA, "--to", KOFI, "--to", "12")
    done = subprocess.run([sys.executable, "-m", "sika", "notifications", "broadcast", "iftar2026",
                           "--text", "Iftar: -10 % on rides tonight", *to],
                          env={**os.environ, "SIKA_DATABASE_URL": sqlite_url}, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    summary, last = done.stdout.strip().splitlines()[-2:]
    report = json.loads(last)
    assert (report["queued"] + report["held"], report["dropped"], report["failed"]) == (1, 1, 1)
    assert summary.startswith("3 recipients: ") and " sent" not in summary
    assert "queued to go now" in summary and summary.endswith("(the outbox workers send them)")
    built = bootstrap(Settings(database_url=sqlite_url, providers="off"), migrate=False)
    try:
        (message,) = Outbox(built.engine).feed(AMA)
        assert (message.kind, message.status) == ("marketing_iftar2026", "queued")  # nothing went out
    finally:
        built.close()
