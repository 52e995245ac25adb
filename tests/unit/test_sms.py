"""SMS parts (GSM-7 and UCS-2, single and concatenated, a bound on parts) and Africa's Talking's
answers as the adapter reads them."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from sika.chat.sms.africastalking import AfricasTalkingSms, SmsRejected, SmsUnavailable
from sika.chat.sms.parts import GSM7, PARTS_MAX, UCS2, fold, split


def test_a_gsm7_text_of_160_characters_is_one_sms_and_161_are_two_parts_of_at_most_153() -> None:
    assert split("a" * 160).texts == ("a" * 160,)
    parts = split("a" * 161)
    assert (parts.encoding, [len(p) for p in parts.texts]) == (GSM7, [153, 8])
    assert parts.text == "a" * 161 and not parts.cut


def test_french_with_its_gsm_accents_stays_gsm7_but_one_letter_outside_makes_it_ucs2() -> None:
    assert split("Dépôt à l'agence, élève").encoding == UCS2  # "ô" is not in GSM 03.38
    assert split("Retrait à l'agence de Bè, réf. 12").encoding == GSM7
    assert split("Ваш код: 12345678").encoding == UCS2


def test_ucs2_texts_split_at_70_then_67_and_arabic_counts_characters_not_bytes() -> None:
    arabic = "م" * 70
    assert split(arabic).texts == (arabic,)
    parts = split("م" * 71)
    assert (parts.encoding, [len(p) for p in parts.texts]) == (UCS2, [67, 4])


def test_extension_characters_count_twice_and_are_never_split_in_the_middle() -> None:
    assert split("€" * 80).count == 1  # 160 septets
    parts = split("€" * 81)
    assert [len(p) for p in parts.texts] == [76, 5]  # 152 septets, not 153: a pair is not cut


def test_a_part_ends_at_a_space_when_one_is_near() -> None:
    words = " ".join(["paiement"] * 30)
    parts = split(words)
    assert all(p.endswith(" ") for p in parts.texts[:-1])
    assert parts.text == words


def test_a_text_longer_than_the_bound_is_cut_with_an_ellipsis_within_the_last_part() -> None:
    parts = split("x" * 5_000)
    assert parts.cut and parts.count == PARTS_MAX
    assert parts.texts[-1].endswith("...") and len(parts.texts[-1]) <= 153


class _Transport:
    def __init__(self, status: int, body: bytes) -> None:
        self.answer = (status, body)
        self.sent: list[tuple[str, bytes, Mapping[str, str]]] = []

    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> tuple[int, bytes]:
        self.sent.append((url, body, headers))
        return self.answer

    def close(self) -> None:
        pass


def _recipient(code: int, status: str, message_id: str = "ATXid_1") -> bytes:
    return (b'{"SMSMessageData":{"Message":"Sent to 1/1 Total Cost: XOF 20","Recipients":[{"statusCode":'
            + str(code).encode() + b',"number":"+22890112233","status":"' + status.encode()
            + b'","cost":"XOF 20.0000","messageId":"' + message_id.encode() + b'"}]}}')


def test_the_adapter_posts_africastalkings_form_with_the_api_key_header() -> None:
    transport = _Transport(201, _recipient(101, "Success"))
    gateway = AfricasTalkingSms("http://at.test/", "sika", "k3y", sender_id="Sika", transport=transport)
    sent = gateway.send("+22890112233", "Bonjour & merci")
    assert (sent.message_id, sent.status_code, sent.cost) == ("ATXid_1", 101, "XOF 20.0000")
    ((url, body, headers),) = transport.sent
    assert url == "http://at.test/version1/messaging"
    assert headers["apiKey"] == "k3y" and headers["Accept"] == "application/json"
    assert body == b"username=sika&to=%2B22890112233&message=Bonjour+%26+merci&from=Sika"


@pytest.mark.parametrize(("code", "status", "error"), [
    (406, "UserInBlacklist", SmsRejected), (403, "InvalidPhoneNumber", SmsRejected),
    (405, "InsufficientBalance", SmsUnavailable), (500, "InternalServerError", SmsUnavailable),
])
def test_a_refused_number_is_final_and_a_gateway_problem_is_retried(
        code: int, status: str, error: type[Exception]) -> None:
    transport = _Transport(201, _recipient(code, status))
    gateway = AfricasTalkingSms("http://at.test", "sika", "k", transport=transport)
    with pytest.raises(error):
        gateway.send("+22890112233", "hello")


def test_a_gateway_error_status_or_garbage_is_retried_later() -> None:
    for status, body in ((401, b"The supplied authentication is invalid"), (201, b"<html>")):
        gateway = AfricasTalkingSms("http://at.test", "sika", "k", transport=_Transport(status, body))
        with pytest.raises(SmsUnavailable):
            gateway.send("+22890112233", "hello")


def test_a_few_french_accents_are_folded_to_gsm7_but_arabic_and_russian_stay_ucs2() -> None:
    assert fold("Reçu : Dépôt chez Bè, « merci »") == 'Recu : Dépot chez Bè, " merci "'  # é and è are GSM-7
    assert split(fold("Reçu " * 40)).encoding == GSM7
    assert fold("Ваш код: 12345678") == "Ваш код: 12345678"
    assert fold("رمزك: 12345678 «ç»") == "رمزك: 12345678 «ç»"
