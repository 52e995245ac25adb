"""Which channel an outbox message takes: the first that reaches the person; codes by SMS first, and
to the in-app inbox only when they are the owner's own (a code to pass on)."""

from __future__ import annotations

from collections.abc import Collection

from sika.payments.channels import SECRET, InboxChannel, Message, Route, Router

WALLETS = {"+22890112233"}
ON_WHATSAPP = {"+22890112233", "+22897112233"}


def _router(*, sms: bool = True, whatsapp: bool = True) -> Router:
    routes = []
    if whatsapp:
        routes.append(Route("whatsapp", InboxChannel(), reaches=ON_WHATSAPP.__contains__))
    if sms:
        routes.append(Route("sms", InboxChannel()))
    routes.append(Route("inbox", InboxChannel(), reaches=WALLETS.__contains__, carries_secrets=False,
                        for_owner=True))
    return Router(routes)


def _name(router: Router, msisdn: str, kind: str = "receipt_transfer_sent", *,
          secret: bool = False) -> str | None:
    route = router.route(msisdn, kind, secret=secret)
    return route.name if route is not None else None


def test_receipts_go_by_whatsapp_to_people_on_it_then_sms_then_the_inbox() -> None:
    assert _name(_router(), "+22897112233") == "whatsapp"
    assert _name(_router(), "+22899887766") == "sms"
    assert _name(_router(sms=False, whatsapp=False), "+22890112233") == "inbox"


def test_without_sms_a_number_without_wallet_nor_whatsapp_is_reached_by_nothing() -> None:
    assert _name(_router(sms=False), "+22899887766") is None
    assert _name(_router(sms=False), "+22899887766", "voucher_received", secret=True) is None


def test_codes_go_by_sms_first_even_to_people_on_whatsapp() -> None:
    assert _name(_router(), "+22897112233", "voucher_received", secret=True) == "sms"
    assert _name(_router(sms=False), "+22897112233", "voucher_received", secret=True) == "whatsapp"


def test_the_inbox_holds_only_the_owners_own_codes_never_a_pin_reset_code() -> None:
    router = _router(sms=False, whatsapp=False)
    assert _name(router, "+22890112233", "voucher_code_to_pass_on", secret=True) == "inbox"
    assert _name(router, "+22890112233", "pin_reset_code", secret=True) is None
    assert _name(router, "+22890112233", "voucher_received", secret=True) is None


def test_a_batch_is_routed_as_each_message_alone_asking_a_batch_route_once() -> None:
    asked: list[frozenset[str]] = []

    def on_whatsapp(numbers: Collection[str]) -> set[str]:
        asked.append(frozenset(numbers))
        return {n for n in numbers if n in ON_WHATSAPP}

    def alone(msisdn: str) -> bool:
        raise AssertionError(f"{msisdn}: asked one by one")

    batched = Router([Route("whatsapp", InboxChannel(), reaches=alone, reaches_many=on_whatsapp),
                      Route("inbox", InboxChannel(), reaches=WALLETS.__contains__, carries_secrets=False,
                            for_owner=True)])
    plain = Router([Route("whatsapp", InboxChannel(), reaches=ON_WHATSAPP.__contains__),
                    Route("inbox", InboxChannel(), reaches=WALLETS.__contains__, carries_secrets=False,
                          for_owner=True)])
    cases = [("+22897112233", "receipt_transfer_sent", {}), ("+22899887766", "receipt_bill_sent", {}),
             ("+22890112233", "voucher_code_to_pass_on", {SECRET: "123456"}),
             ("+22890112233", "pin_reset_code", {SECRET: "123456"})]
    messages = [Message(id=i, msisdn=msisdn, kind=kind, params=params, status="queued", attempts=1,
                        created_at_ns=0, delivered_at_ns=None)
                for i, (msisdn, kind, params) in enumerate(cases)]
    routes = batched.route_many(messages)
    assert [r.name if r else None for r in routes] == ["whatsapp", None, "whatsapp", "whatsapp"]
    assert [r.name if r else None for r in routes] == [_name(plain, m.msisdn, m.kind, secret=m.secret)
                                                        for m in messages]
    assert asked == [frozenset(msisdn for msisdn, _, _ in cases)]
