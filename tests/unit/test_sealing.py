"""What could be a PIN is sealed before the inbox stores it: the stored form holds no digit of it, the
same key opens it, and anything else (another key, an altered seal) opens nothing."""

from __future__ import annotations

import json

from sika.chat.messages import MASK, Inbound, InboundKind
from sika.chat.whatsapp import store
from sika.chat.whatsapp.sealing import Sealer, looks_secret


def test_a_pin_is_stored_masked_and_only_the_same_key_opens_it() -> None:
    sealer = Sealer("app-secret")
    typed = Inbound(channel="whatsapp", msisdn="+22890112233", kind=InboundKind.TEXT, message_id="w1",
                    text="7391")
    stored, sealed = sealer.inbound(typed)
    assert stored.text == MASK and sealed is not None and "7391" not in sealed
    payload = store.encode_inbound(stored, sealed=sealed)
    assert "7391" not in payload
    assert store.decode_inbound(payload, sealer.open).text == "7391"
    assert store.decode_inbound(payload).text == MASK  # without the key: the mask
    assert store.decode_inbound(payload, Sealer("another secret").open).text == MASK
    altered = json.dumps({**json.loads(payload), "sealed": sealed[:-4] + "AAAA"})
    assert store.decode_inbound(altered, sealer.open).text == MASK
    assert sealer.seal("7391") != sealed  # a fresh nonce each time


def test_only_short_runs_of_digits_are_sealed() -> None:
    assert looks_secret("7391") and looks_secret(" 123456 ") and looks_secret("12345678")
    assert not looks_secret("123") and not looks_secret("envoyer 5000") and not looks_secret("٧٣٩١")
    sealer = Sealer(None)
    choice = Inbound(channel="whatsapp", msisdn="+22890112233", kind=InboundKind.CHOICE, message_id="w2",
                     text="1234", choice_id="confirm")
    assert sealer.inbound(choice) == (choice, None)
    assert sealer.open("s1.not-base64!") is None and sealer.open("x") is None
