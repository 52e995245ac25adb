"""Vouchers and the SMS channel against the fake Africa's Talking: the code reaches a number without a
wallet by SMS (once, never kept), a refused number makes the sender get the code to pass on, the
gateway's failures are retried, delivery reports are authenticated, and the money is collected with
the code: by an agent, or in the chat (USSD) when a wallet opens on that number."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from e2e_support import World, key
from sqlalchemy import select, update

from sika.bootstrap import Container, bootstrap
from sika.chat.messages import Inbound, InboundKind
from sika.chat.sms.schema import sms_messages
from sika.config import Settings
from sika.ledger import audit
from sika.payments.outbox import enqueue
from sika.payments.schema import outbox
from sika_fakes.sms import FakeSms

AMA, STRANGER = "+22890112233", "+22899887766"
TOKEN = "gateway-token-0123456789"


@pytest.fixture
def fake() -> Iterator[FakeSms]:
    with FakeSms() as sms:
        yield sms


@pytest.fixture
def container(database_url: str, fake: FakeSms) -> Iterator[Container]:
    built = bootstrap(Settings(database_url=database_url, providers="instant", sms_sender_id="Sika",
                               africastalking_callback_token=TOKEN, **fake.settings))
    yield built
    assert audit.check(built.engine) == []
    built.close()


def _drain(container: Container) -> None:
    while container.outbox.deliver_due():
        pass


def _code(text: str) -> str:
    (code,) = re.findall(r"\b\d{8}\b", text)
    return code


def _send_to_stranger(world: World, amount: int = 3_000) -> str:
    ama = world.wallet(AMA, "Ama Mensah", cash=20_000)
    sent = world.client.post("/v1/transfers", headers={**ama, **key()},
                             json={"to": STRANGER, "amount": amount})
    assert (sent.status_code, sent.json()["kind"]) == (201, "voucher"), sent.text
    return str(sent.json()["id"])


def test_a_voucher_code_goes_by_sms_once_and_is_kept_nowhere_after(world: World, fake: FakeSms) -> None:
    _send_to_stranger(world)
    _drain(world.container)
    _drain(world.container)
    (sms,) = fake.messages(STRANGER)
    assert sms.sender == "Sika" and "Ama Mensah" in sms.text
    code = _code(sms.text)
    with world.container.engine.connect() as connection:
        stored = [row.params for row in connection.execute(select(outbox.c.params))]
        (row,) = connection.execute(select(sms_messages).where(sms_messages.c.msisdn == STRANGER)).all()
    assert not any(code in params for params in stored)
    assert (row.provider_id, row.status, row.parts, row.encoding) == (sms.id, "sent", 2, "gsm7")


def test_a_gateway_failure_is_retried_and_the_code_still_goes_once(world: World, fake: FakeSms) -> None:
    _send_to_stranger(world)
    fake.fail_next(50)  # the gateway is down for everyone
    world.container.outbox.deliver_due()
    assert fake.messages(STRANGER) == []
    with world.container.engine.begin() as connection:
        (error,) = connection.execute(select(outbox.c.last_error).where(outbox.c.msisdn == STRANGER)).all()
        connection.execute(update(outbox).values(next_attempt_ns=0))  # the back-off has passed
    assert "SmsUnavailable" in str(error[0])
    fake.heal()
    _drain(world.container)
    assert len(fake.messages(STRANGER)) == 1


def test_a_number_the_gateway_refuses_gets_nothing_and_the_sender_gets_the_code_to_pass_on(
        world: World, fake: FakeSms) -> None:
    fake.refuse(STRANGER, 406)  # UserInBlacklist
    voucher = _send_to_stranger(world, amount=4_000)
    _drain(world.container)
    assert fake.messages(STRANGER) == []
    (passed_on,) = [m for m in fake.messages(AMA) if "Sika" in m.text and re.search(r"\b\d{8}\b", m.text)]
    assert STRANGER in passed_on.text and "4 000 F CFA" in passed_on.text
    # An agent pays it out in cash with that code: the voucher is settled once.
    before = world.float_balance()
    paid = world.client.post("/v1/vouchers/claim", headers={**world.agent, **key()},
                             json={"msisdn": STRANGER, "code": _code(passed_on.text)})
    assert paid.status_code == 201, paid.text
    assert world.float_balance() > before
    assert world.container.payments.get(paid.json()["id"]).details["voucher"] == voucher


def test_delivery_reports_need_the_gateways_token_and_update_the_message(world: World, fake: FakeSms) -> None:
    _send_to_stranger(world)
    _drain(world.container)
    (sms,) = fake.messages(STRANGER)
    report = {"id": sms.id, "status": "Failed", "phoneNumber": STRANGER, "failureReason": "AbsentSubscriber",
              "networkCode": "61501", "retryCount": "0"}
    route = "/webhooks/africastalking/sms"
    assert world.client.post(route, data=report).status_code == 403
    assert world.client.post(f"{route}?token=wrong-token-0123456", data=report).status_code == 403
    done = world.client.post(f"{route}?token={TOKEN}", data=report)
    assert (done.status_code, done.json()) == (200, {"received": True, "known": True})
    late = world.client.post(f"{route}?token={TOKEN}", data={**report, "status": "Buffered"})
    assert late.json()["known"] is True
    with world.container.engine.connect() as connection:
        row = connection.execute(select(sms_messages).where(sms_messages.c.provider_id == sms.id)).one()
    assert (row.status, row.failure_reason) == ("failed", "AbsentSubscriber")  # final: not overwritten
    unknown = world.client.post(f"{route}?token={TOKEN}", data={**report, "id": "ATXid_nobody"})
    assert unknown.json() == {"received": True, "known": False}


def test_pin_reset_codes_go_by_sms_in_the_customers_language(world: World, fake: FakeSms) -> None:
    world.wallet(AMA, "Ama Mensah")
    with world.container.engine.begin() as connection:
        enqueue(connection, dedupe_key="reset-1", msisdn=AMA, kind="pin_reset_code",
                params={"secret": "918273"}, now_ns=1)
    _drain(world.container)
    (sms,) = [m for m in fake.messages(AMA) if "918273" in m.text]
    assert sms.text.startswith("Sika : votre code de réinitialisation du code PIN est 918273.")
    feed = world.client.get(f"/v1/wallets/{AMA}/notifications", headers=world.admin).json()["items"]
    reset = next(item for item in feed if item["kind"] == "pin_reset_code")
    assert (reset["channel"], "918273" in str(reset)) == ("sms", False)


def test_money_for_a_number_without_a_wallet_is_collected_when_it_opens_one_on_ussd(
        world: World, fake: FakeSms) -> None:
    _send_to_stranger(world)
    _drain(world.container)
    code = _code(fake.messages(STRANGER)[0].text)
    inputs: list[str] = []

    def dial(answer: str | None) -> str:
        if answer is not None:
            inputs.append(answer)
        screen = world.client.post(f"/ussd?token={TOKEN}",
                                   data={"sessionId": "ATUid_1", "serviceCode": "*155#",
                                         "phoneNumber": STRANGER, "networkCode": "61501",
                                         "text": "*".join(inputs)})
        assert len(screen.text) <= 182, screen.text
        return screen.text

    dial(None)
    for answer in ("1", "Efua Sena", "6049", "6049"):  # French, name, PIN twice
        screen = dial(answer)
    assert screen.startswith("CON ") and "3 000 F CFA" in screen and "8 chiffres" in screen
    wrong = dial("12345678")
    assert wrong.startswith("CON ") and "ne correspond" in wrong
    done = dial(code)
    assert done.startswith("END ") and "Vous avez reçu 3 000 F CFA" in done
    assert world.balance(STRANGER) == 3_000


def test_the_chat_tells_the_sender_the_code_goes_by_sms(world: World) -> None:
    world.wallet(AMA, "Ama Mensah", cash=20_000)
    dialog = world.container.dialog
    assert dialog is not None
    texts = []
    for n, text in enumerate(("send 2000 to 99887766", "1", "4827")):
        turn = dialog.handle(Inbound(channel="terminal", msisdn=AMA, kind=InboundKind.TEXT,
                                     message_id=f"sms-chat-{n}", text=text))
        texts.append("\n".join(reply.text for reply in turn.replies))
    assert "nous lui envoyons par SMS un code" in texts[-1], texts


def test_a_code_the_network_never_delivered_is_replaced_and_the_new_one_goes_to_the_sender(
        world: World, fake: FakeSms) -> None:
    _send_to_stranger(world)
    _drain(world.container)
    (sms,) = fake.messages(STRANGER)
    report = {"id": sms.id, "status": "Failed", "phoneNumber": STRANGER, "failureReason": "AbsentSubscriber"}
    for _ in range(2):  # a report delivered twice replaces the code once
        world.client.post(f"/webhooks/africastalking/sms?token={TOKEN}", data=report)
    _drain(world.container)
    (passed_on,) = [m for m in fake.messages(AMA) if STRANGER in m.text and re.search(r"\b\d{8}\b", m.text)]
    old, new = _code(sms.text), _code(passed_on.text)
    stale = world.client.post("/v1/vouchers/claim", headers={**world.agent, **key()},
                              json={"msisdn": STRANGER, "code": old})
    assert stale.json()["code"] == "invalid_voucher"
    paid = world.client.post("/v1/vouchers/claim", headers={**world.agent, **key()},
                             json={"msisdn": STRANGER, "code": new})
    assert paid.status_code == 201, paid.text
