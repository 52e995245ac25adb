"""WhatsApp on the wire: Meta's webhook payloads read safely, replies rendered within Meta's limits (and
accepted by a strict fake of the Cloud API), files judged by name and type, and a client that retries
what may pass, refuses what will not, and keeps to its rate."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sika.chat.messages import Choice, InboundKind, Reply
from sika.chat.whatsapp import _limits as limit
from sika.chat.whatsapp.attachments import dangerous
from sika.chat.whatsapp.graph import GraphClient, GraphError, KeepAliveTransport, TokenBucket
from sika.chat.whatsapp.render import combine, render, render_template, render_turn, split_text
from sika.chat.whatsapp.webhook import parse, signature_valid, verify_subscription
from sika_fakes.graph import FakeGraph, validate

AMA = "22890112233"
_ids = itertools.count()


def notification(*messages: dict[str, Any], statuses: list[dict[str, Any]] | None = None,
                 name: str = "Ama") -> dict[str, Any]:
    """A notification shaped like Meta's, carrying ``messages`` (and ``statuses``)."""
    value: dict[str, Any] = {"messaging_product": "whatsapp",
                             "metadata": {"display_phone_number": "22870000000", "phone_number_id": "1065"}}
    if messages:
        value["contacts"] = [{"profile": {"name": name}, "wa_id": AMA}]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = statuses
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]}


def message(kind: str, content: Any = None, *, sender: str = AMA, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"from": sender, "id": f"wamid.HBgL{next(_ids)}", "timestamp": "1700000000",
                            "type": kind, **extra}
    if content is not None:
        body[kind] = content
    return body


def status(wamid: str, value: str, *, code: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": wamid, "status": value, "timestamp": "1700000100", "recipient_id": AMA,
                            "conversation": {"id": "c1", "origin": {"type": "service"}},
                            "pricing": {"billable": True, "pricing_model": "CBP", "category": "service"}}
    if code is not None:
        body["errors"] = [{"code": code, "title": "Message undeliverable", "message": "Message undeliverable",
                           "error_data": {"details": "Message Undeliverable."}}]
    return body


# Reading Meta's notifications ----------------------------------------------------------------------

def test_a_text_message_becomes_an_inbound_text_from_an_e164_number_with_the_profile_name() -> None:
    parsed = parse(notification(message("text", {"body": "Bonjour Sika"})))
    (inbound,) = parsed.messages
    assert (inbound.channel, inbound.msisdn, inbound.kind, inbound.text) == (
        "whatsapp", "+22890112233", InboundKind.TEXT, "Bonjour Sika")
    assert inbound.profile_name == "Ama"
    assert parsed.sent_at_s == {inbound.message_id: 1_700_000_000}


def test_tapped_buttons_and_list_rows_become_choices_with_their_id_and_title() -> None:
    button = message("interactive", {"type": "button_reply",
                                     "button_reply": {"id": "confirm", "title": "Oui"}})
    row = message("interactive", {"type": "list_reply", "list_reply": {
        "id": "op:togocom", "title": "Togocom", "description": "Airtime"}})
    quick = message("button", {"payload": "stop", "text": "Stop promotions"})
    kinds = [(m.kind, m.choice_id, m.text) for m in parse(notification(button, row, quick)).messages]
    assert kinds == [(InboundKind.CHOICE, "confirm", "Oui"), (InboundKind.CHOICE, "op:togocom", "Togocom"),
                     (InboundKind.CHOICE, "stop", "Stop promotions")]


def test_a_shared_location_keeps_coordinates_name_and_address() -> None:
    shared = message("location", {"latitude": 6.1319, "longitude": 1.2228, "name": "Grand Marché",
                                  "address": "Lomé", "url": "https://maps.example"})
    (inbound,) = parse(notification(shared)).messages
    assert inbound.kind is InboundKind.LOCATION and inbound.location is not None
    assert (inbound.location.latitude, inbound.location.longitude) == (6.1319, 1.2228)
    assert (inbound.location.name, inbound.location.address) == ("Grand Marché", "Lomé")


@pytest.mark.parametrize("location", [{"latitude": 91, "longitude": 0}, {"latitude": "6.1", "longitude": 1},
                                      {"latitude": True, "longitude": 1}, {"longitude": 1}, "here"])
def test_a_location_without_usable_coordinates_is_unsupported(location: Any) -> None:
    (inbound,) = parse(notification(message("location", location))).messages
    assert inbound.kind is InboundKind.UNSUPPORTED and inbound.location is None


def test_media_become_attachments_with_name_and_type_and_are_never_fetched() -> None:
    image = message("image", {"caption": "facture", "mime_type": "image/jpeg", "sha256": "x", "id": "m1"})
    document = message("document", {"filename": "facture.pdf.exe", "mime_type": "application/x-msdownload",
                                    "sha256": "y", "id": "m2"})
    voice = message("audio", {"mime_type": "audio/ogg; codecs=opus", "voice": True, "id": "m3"})
    parsed = parse(notification(image, document, voice, message("video"), message("sticker", {"id": "s"})))
    attachments = [(m.kind, m.attachment) for m in parsed.messages]
    assert all(kind is InboundKind.ATTACHMENT for kind, _ in attachments)
    assert [(a.media_type, a.filename, a.mime_type) for _, a in attachments if a] == [
        ("image", None, "image/jpeg"), ("document", "facture.pdf.exe", "application/x-msdownload"),
        ("audio", None, "audio/ogg; codecs=opus"), ("video", None, None), ("sticker", None, None)]
    # Screened on arrival; the media ids (what the Graph API would need to fetch a file) kept nowhere.
    assert [a.dangerous for _, a in attachments if a] == [False, True, False, False, False]
    assert not any(media_id in repr(m) for m in parsed.messages for media_id in ("'m1'", "'m2'", "'m3'"))


@pytest.mark.parametrize("kind,content", [
    ("reaction", {"message_id": "wamid.x", "emoji": "👍"}),
    ("contacts", [{"name": {"formatted_name": "Kofi"}, "phones": [{"phone": "+22897112233"}]}]),
    ("order", {"catalog_id": "1", "product_items": []}),
    ("system", {"body": "User changed number", "new_wa_id": "22897112233", "type": "user_changed_number"}),
    ("unknown", None),
    ("interactive", {"type": "nfm_reply", "nfm_reply": {"response_json": "{}"}}),
    ("interactive", {"type": "button_reply", "button_reply": {"title": "no id"}}),
    ("text", {"no": "body"}),
])
def test_other_message_types_are_unsupported_but_still_answered(kind: str, content: Any) -> None:
    extra: dict[str, Any] = ({"errors": [{"code": 131051, "title": "Unsupported message type"}]}
                             if kind == "unknown" else {})
    (inbound,) = parse(notification(message(kind, content, **extra))).messages
    assert inbound.kind is InboundKind.UNSUPPORTED and inbound.msisdn == "+22890112233"


def test_statuses_report_sent_delivered_read_and_failed_with_meta_error_code() -> None:
    parsed = parse(notification(statuses=[status("wamid.A", "sent"), status("wamid.A", "delivered"),
                                          status("wamid.A", "read"), status("wamid.B", "failed", code=131026),
                                          status("wamid.C", "deleted"), {"status": "sent"}]))
    assert [(s.message_id, s.status, s.error_code) for s in parsed.statuses] == [
        ("wamid.A", "sent", None), ("wamid.A", "delivered", None), ("wamid.A", "read", None),
        ("wamid.B", "failed", 131026)]
    assert parsed.statuses[0].recipient == "+22890112233" and parsed.statuses[0].timestamp == 1_700_000_100
    assert parsed.messages == []


@pytest.mark.parametrize("junk", [
    None, [], "text", 42, {}, {"object": "page", "entry": [{"changes": []}]}, {"entry": "x"},
    {"entry": [None, 1, {"changes": None}, {"changes": [None, {"value": []}]}]},
    {"entry": [{"changes": [{"field": "account_update", "value": {"messages": [
        {"from": AMA, "id": "wamid.Z", "type": "text", "text": {"body": "x"}}]}}]}]},
    notification(message("text", {"body": "x"}, sender="+22890112233")),
    notification(message("text", {"body": "x"}, sender="2289011223x")),
    notification(message("text", {"body": "x"}, sender="123")),
    notification({"from": AMA, "type": "text", "text": {"body": "no id"}}),
    notification({"from": AMA, "id": 7, "type": "text", "text": {"body": "id not a string"}}),
])
def test_malformed_notifications_and_messages_are_skipped(junk: Any) -> None:
    parsed = parse(junk)
    assert parsed.messages == [] and parsed.statuses == []


def test_huge_fields_are_capped_and_unstorable_characters_replaced() -> None:
    long = message("text", {"body": "a" * 100_000 + "\x00"}, id="wamid." + "9" * 1000)
    odd = message("text", {"body": "pin \ud800\x00 1234"})
    (first, second) = parse(notification(long, odd)).messages
    assert len(first.text) == 4_096 and len(first.message_id) == 128
    assert "\x00" not in second.text and "\ud800" not in second.text and second.text.endswith("1234")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=30)
_keys = st.sampled_from(["object", "entry", "changes", "field", "value", "messages", "statuses", "contacts",
                         "from", "id", "type", "text", "body", "interactive", "button_reply", "list_reply",
                         "title", "location", "latitude", "longitude", "document", "filename", "mime_type",
                         "errors", "code", "status", "wa_id", "profile", "name", "timestamp"])
_meta_like = st.recursive(
    st.none() | st.integers() | st.floats() | st.text(max_size=20)
    | st.sampled_from(["text", "interactive", "location", "document", "button_reply", "list_reply", "failed",
                       "whatsapp_business_account", "messages", AMA, "read", "1700000000"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=40)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_json, _meta_like))
def test_parse_never_raises_and_only_yields_well_formed_messages(payload: Any) -> None:
    parsed = parse(payload)
    for inbound in parsed.messages:
        assert inbound.msisdn.startswith("+") and inbound.msisdn[1:].isdigit()
        assert 0 < len(inbound.message_id) <= 128 and len(inbound.text) <= 4_096
        assert inbound.kind is not InboundKind.CHOICE or inbound.choice_id
    for update in parsed.statuses:
        assert update.status in ("sent", "delivered", "read", "failed") and 0 < len(update.message_id) <= 128


# The handshake and the signature ---------------------------------------------------------------------

def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_the_signature_is_an_hmac_of_the_raw_body_under_the_app_secret() -> None:
    body = json.dumps(notification(message("text", {"body": "x"}))).encode()
    assert signature_valid("s3cret", body, sign("s3cret", body))
    assert signature_valid("s3cret", body, sign("s3cret", body).upper().replace("SHA256=", "sha256="))
    assert not signature_valid("s3cret", body + b" ", sign("s3cret", body))
    assert not signature_valid("s3cret", body, sign("other", body))
    assert not signature_valid("s3cret", body, None)
    assert not signature_valid("s3cret", body, "sha1=" + "0" * 40)
    assert not signature_valid("s3cret", body, "sha256=zz")
    assert not signature_valid(None, body, sign("s3cret", body))


def test_the_subscription_handshake_echoes_the_challenge_only_for_our_token() -> None:
    assert verify_subscription("subscribe", "tok", "1158201444", "tok") == "1158201444"
    assert verify_subscription("subscribe", "bad", "1158201444", "tok") is None
    assert verify_subscription("unsubscribe", "tok", "1158201444", "tok") is None
    assert verify_subscription("subscribe", "tok", "x" * 129, "tok") is None
    assert verify_subscription("subscribe", "tok", "1", None) is None
    assert verify_subscription("subscribe", None, "1", "tok") is None


# Attachments ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("filename,mime_type", [
    ("setup.exe", None), ("LOVE-LETTER-FOR-YOU.TXT.vbs", "text/plain"),
    ("facture.pdf.exe", "application/pdf"),
    ("photo.jpg          .scr", None), ("sika-update.apk", None), ("run.PS1", None), ("x.exe. . ", None),
    ("C:\\Users\\a\\bad.bat", None), ("payload.js", None), ("invoice.docm", None), ("page.html", None),
    ("photo\u202egpj.exe", None), ("scan\u202egnp.pdf", None), (None, "application/x-msdownload"),
    ("notes.txt", "application/x-sh; charset=binary"), ("a.jar", "application/java-archive"),
])
def test_programs_scripts_and_disguised_names_are_refused(filename: str | None,
                                                          mime_type: str | None) -> None:
    assert dangerous(filename, mime_type) is not None


def test_the_double_extension_trick_is_named_as_such() -> None:
    assert "double extension .txt.vbs" in (dangerous("LOVE-LETTER-FOR-YOU.TXT.vbs", None) or "")


@pytest.mark.parametrize("filename,mime_type", [
    ("facture.pdf", "application/pdf"), ("photo.jpg", "image/jpeg"), (None, "image/webp"), (None, None),
    ("releve.2026.03.xlsx", None), ("README", "text/plain"), ("voice", "audio/ogg; codecs=opus"),
    ("exe.pdf", None),
])
def test_ordinary_documents_and_media_are_not_refused(filename: str | None, mime_type: str | None) -> None:
    assert dangerous(filename, mime_type) is None


# Rendering within Meta's limits -------------------------------------------------------------------------

def choices(count: int, title: str = "Option", description: str | None = None) -> list[Choice]:
    return [Choice(id=f"c{n}", title=f"{title} {n}", description=description) for n in range(1, count + 1)]


def test_a_short_text_is_one_text_message_to_the_wa_id() -> None:
    (body,) = render("+22890112233", Reply("Solde : 5 000 F CFA"))
    assert body == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": AMA,
                    "type": "text", "text": {"preview_url": False, "body": "Solde : 5 000 F CFA"}}


def test_a_long_text_is_split_at_line_then_word_boundaries_without_losing_words() -> None:
    lines = [f"Ligne {n}: " + " ".join(["transfert"] * 40) for n in range(30)]
    text = "\n".join(lines)
    bodies = render("+22890112233", Reply(text))
    chunks = [body["text"]["body"] for body in bodies]
    assert len(chunks) > 1 and all(limit.width(chunk) <= 4_096 for chunk in chunks)
    assert all(chunk.endswith("transfert") for chunk in chunks)  # cut at a line end
    assert " ".join(" ".join(chunks).split()) == " ".join(text.split())


def test_a_text_without_spaces_is_still_cut_to_size_and_emoji_count_double() -> None:
    assert [limit.width(c) for c in split_text("x" * 10_000, 4_096)] == [4_096, 4_096, 1_808]
    emoji = split_text("😀" * 3_000, 4_096)
    assert [limit.width(c) for c in emoji] == [4_096, 1_904] and "".join(emoji) == "😀" * 3_000


def test_up_to_three_choices_are_reply_buttons_with_titles_of_at_most_20_characters() -> None:
    reply = Reply("Confirmer l'envoi de 5 000 F CFA à Kofi ?",
                  [Choice("confirm", "Confirmer"), Choice("cancel", "Annuler et revenir au menu principal")])
    (body,) = render("+22890112233", reply)
    buttons = body["interactive"]["action"]["buttons"]
    assert body["interactive"]["type"] == "button"
    assert [(b["reply"]["id"], b["reply"]["title"]) for b in buttons] == [
        ("confirm", "Confirmer"), ("cancel", "Annuler et revenir…")]


def test_titles_that_shorten_to_the_same_words_are_made_unique() -> None:
    same = [Choice("a", "Envoyer de l'argent à un ami"), Choice("b", "Envoyer de l'argent à un voisin")]
    (body,) = render("+22890112233", Reply("?", same))
    titles = [b["reply"]["title"] for b in body["interactive"]["action"]["buttons"]]
    assert len(set(titles)) == 2 and all(len(t) <= 20 for t in titles)


def test_four_to_ten_choices_are_one_list_with_short_rows_and_the_given_button_label() -> None:
    reply = Reply("Que voulez-vous faire ?", choices(7, "Payer une facture d'électricité CEET", "d" * 100),
                  button="Choisir une option dans la liste")
    (body,) = render("+22890112233", reply)
    action = body["interactive"]["action"]
    assert body["interactive"]["type"] == "list" and len(action["button"]) <= 20
    (section,) = action["sections"]
    assert len(section["rows"]) == 7
    assert all(len(r["title"]) <= 24 and len(r["description"]) <= 72 for r in section["rows"])


def test_more_than_ten_choices_become_several_lists_each_option_still_one_tap_away() -> None:
    bodies = render("+22890112233", Reply("Choisissez", choices(23)), list_button="Menu")
    rows = [row["id"] for body in bodies for row in body["interactive"]["action"]["sections"][0]["rows"]]
    assert [len(body["interactive"]["action"]["sections"][0]["rows"]) for body in bodies] == [10, 10, 3]
    assert rows == [f"c{n}" for n in range(1, 24)]
    assert [body["interactive"]["body"]["text"] for body in bodies] == ["Choisissez", "2/3", "3/3"]


def test_a_question_longer_than_an_interactive_body_sends_its_start_as_text_first() -> None:
    text = "\n\n".join(["Conditions: " + "x " * 400, "Détails: " + "y " * 400, "Acceptez-vous ?"])
    bodies = render("+22890112233", Reply(text, [Choice("yes", "Oui"), Choice("no", "Non")]))
    assert [body["type"] for body in bodies] == ["text", "interactive"]
    assert bodies[-1]["interactive"]["body"]["text"].endswith("Acceptez-vous ?")
    assert limit.width(bodies[-1]["interactive"]["body"]["text"]) <= 1_024


def test_arabic_chunks_each_start_right_to_left() -> None:
    bodies = render("+22890112233", Reply("\u200fرصيدك " * 2_000, rtl=True))
    assert len(bodies) > 1 and all(body["text"]["body"].startswith("\u200f") for body in bodies)


def test_an_answer_and_the_next_question_go_as_one_interactive_message() -> None:
    menu = [Choice("balance", "Solde"), Choice("send", "Envoyer"), Choice("help", "Aide")]
    answer, question = Reply("Votre solde : 5 000 F CFA."), Reply("Et maintenant ?", menu)
    (body,) = render_turn("+22890112233", [answer, question])
    assert body["interactive"]["body"]["text"] == "Votre solde : 5 000 F CFA.\n\nEt maintenant ?"
    assert [b["reply"]["id"] for b in body["interactive"]["action"]["buttons"]] == ["balance", "send", "help"]


def test_texts_alone_and_answers_too_long_to_share_a_body_stay_messages_of_their_own() -> None:
    menu = [Choice("yes", "Oui")]
    assert [r.text for r in combine([Reply("reçu"), Reply("autre reçu")])] == ["reçu", "autre reçu"]
    long = Reply("x " * 600)  # 1,200 units: with the question, more than an interactive body
    assert combine([long, Reply("Confirmer ?", menu)]) == [long, Reply("Confirmer ?", menu)]
    # As many of the texts just before the question as fit go with it; the others before, in order.
    first, second = Reply("a " * 300), Reply("b " * 300)
    assert [r.text for r in combine([first, second, Reply("?", menu)])] == [
        first.text, second.text.strip() + "\n\n?"]


def test_replies_in_other_directions_are_not_folded_together() -> None:
    menu = [Choice("yes", "نعم")]
    replies = [Reply("Solde : 5 000 F CFA"), Reply("\u200fهل تريد المتابعة؟", menu, rtl=True)]
    assert combine(replies) == replies


def test_a_template_parameter_is_one_line_without_runs_of_spaces() -> None:
    body = render_template("+22890112233", "sika_notification", "fr",
                           ["Reçu :\n\n5 000 F CFA\tenvoyés      à Kofi"])
    (parameter,) = body["template"]["components"][0]["parameters"]
    assert parameter == {"type": "text", "text": "Reçu : · 5 000 F CFA · envoyés à Kofi"}
    assert validate(body) is None


_titles = st.text(st.characters(codec="utf-8"), min_size=1, max_size=60).filter(str.strip)
_replies = st.builds(
    Reply,
    text=st.text(st.characters(codec="utf-8"), max_size=6_000)
    | st.sampled_from(["", "x " * 3_000, "ligne\n" * 900, "😀" * 2_100]),
    choices=st.lists(st.builds(Choice, id=st.text("abcdefghij:_-0123456789", min_size=1, max_size=8),
                               title=_titles, description=st.none() | st.text(max_size=120)),
                     max_size=25, unique_by=lambda c: c.id),
    button=st.none() | _titles, rtl=st.booleans())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_replies, max_size=4))
def test_a_turn_combined_loses_no_word_and_keeps_the_order_and_every_choice(replies: list[Reply]) -> None:
    bodies = render_turn("+22890112233", replies)
    for body in bodies:
        assert validate(body) is None, (validate(body), body)
    texts = [body["text"]["body"] if body["type"] == "text" else body["interactive"]["body"]["text"]
             for body in bodies]
    # Every character of the texts arrives, in order; only blanks and direction marks may change, and
    # Meta's required body of an empty question ("…") and the page of a second list ("2/3") are added.
    def ink(text: str) -> str:
        return "".join(text.replace("\u200f", "").split())

    def added(text: str) -> bool:  # a reply that reads like one of them is left out on both sides
        return text.strip() == "…" or re.fullmatch(r"\d+/\d+", text.strip()) is not None

    sent = "".join(ink(text) for text in texts if not added(text))
    assert sent == "".join(ink(reply.text) for reply in replies if not added(reply.text))
    offered = [row.get("reply", row)["id"] for body in bodies if body["type"] == "interactive"
               for row in body["interactive"]["action"].get("buttons")
               or body["interactive"]["action"]["sections"][0]["rows"]]
    assert offered == [choice.id for reply in replies for choice in reply.choices]
    assert len(bodies) <= sum(len(render("+22890112233", reply)) for reply in replies)


# Meta's published limits (WhatsApp Cloud API, Messages reference: "text object", "interactive
# object", "Interactive list messages"), written here and nowhere else so that neither the renderer
# nor the fake can move them: a text body 4096 characters, an interactive body 1024, header and
# footer 60; reply buttons at most 3, title 20, id 256; a list's button 20, 10 rows in all, row title
# 24, description 72, id 200, section title 24. Counted in UTF-16 code units, the most Meta could count.
_PUBLISHED = {"TEXT_BODY": 4096, "INTERACTIVE_BODY": 1024, "HEADER_TEXT": 60, "FOOTER_TEXT": 60,
              "BUTTONS_MAX": 3, "BUTTON_TITLE": 20, "BUTTON_ID": 256, "LIST_BUTTON": 20, "LIST_ROWS_MAX": 10,
              "ROW_TITLE": 24, "ROW_DESCRIPTION": 72, "ROW_ID": 200, "SECTION_TITLE": 24}


def _units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _within_published_limits(body: dict[str, Any]) -> None:
    if body["type"] == "text":
        assert 0 < _units(body["text"]["body"]) <= 4096
        return
    interactive = body["interactive"]
    assert 0 < _units(interactive["body"]["text"]) <= 1024
    for part in ("header", "footer"):
        assert _units(interactive.get(part, {}).get("text", "")) <= 60
    action = interactive["action"]
    if interactive["type"] == "button":
        assert 1 <= len(action["buttons"]) <= 3
        for button in action["buttons"]:
            assert 0 < _units(button["reply"]["title"]) <= 20 and 0 < _units(button["reply"]["id"]) <= 256
        return
    assert interactive["type"] == "list" and 0 < _units(action["button"]) <= 20
    rows = [row for section in action["sections"] for row in section["rows"]]
    assert 1 <= len(rows) <= 10
    for section in action["sections"]:
        assert _units(section.get("title", "")) <= 24
    for row in rows:
        assert 0 < _units(row["title"]) <= 24 and 0 < _units(row["id"]) <= 200
        assert _units(row.get("description", "")) <= 72


def test_the_renderer_and_the_fake_hold_meta_s_published_limits() -> None:
    from sika_fakes import meta_limits as meta

    for name, published in _PUBLISHED.items():
        assert (getattr(limit, name), getattr(meta, name)) == (published, published), name


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_replies)
def test_everything_render_produces_holds_meta_s_published_limits_and_passes_the_fake(reply: Reply) -> None:
    bodies = render("+22890112233", reply)
    for body in bodies:
        _within_published_limits(body)
        assert validate(body) is None, (validate(body), body)
    if reply.choices:
        offered = [row.get("reply", row)["id"] for body in bodies if body["type"] == "interactive"
                   for row in body["interactive"]["action"].get("buttons")
                   or body["interactive"]["action"]["sections"][0]["rows"]]
        assert offered == [choice.id for choice in reply.choices]


# The Cloud API client against the fake --------------------------------------------------------------

@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph() as fake:
        yield fake


def client_for(fake: FakeGraph, **options: Any) -> GraphClient:
    defaults: dict[str, Any] = {"rate_per_s": 10_000.0, "backoff_s": 0.0}
    return GraphClient(fake.url, fake.phone_number_id, fake.token, **{**defaults, **options})


def test_rendered_replies_go_out_through_the_client_and_the_fake_accepts_them_all(graph: FakeGraph) -> None:
    replies = [Reply("Bonjour"), Reply("x " * 5_000), Reply("Menu", choices(2)), Reply("Menu", choices(9)),
               Reply("Liste " * 300, choices(14, "Un titre beaucoup trop long pour une ligne", "d" * 90))]
    bodies = [body for reply in replies for body in render("+22890112233", reply)]
    with client_for(graph) as client:
        wamids = [client.send(body) for body in bodies]
    assert len(set(wamids)) == len(bodies) and all(w.startswith("wamid.") for w in wamids)
    assert graph.rejected == [] and [sent.body for sent in graph.sent] == bodies
    assert graph.texts_to("+22890112233")[0] == "Bonjour"


def test_the_fake_refuses_what_meta_would_with_meta_shaped_errors(graph: FakeGraph) -> None:
    too_many = render("+22890112233", Reply("?", choices(3)))[0]
    too_many["interactive"]["action"]["buttons"].append({"type": "reply", "reply": {"id": "x", "title": "X"}})
    long_title = render("+22890112233", Reply("?", choices(5)))[0]
    long_title["interactive"]["action"]["sections"][0]["rows"][0]["title"] = "y" * 25
    empty = render("+22890112233", Reply("x"))[0]
    empty["text"]["body"] = "  "
    with client_for(graph) as client:
        for body in (too_many, long_title, empty):
            with pytest.raises(GraphError) as refused:
                client.send(body)
            assert refused.value.http_status == 400 and refused.value.error_code in (131008, 131009)
    assert graph.requests == 3 and graph.sent == [] and len(graph.rejected) == 3


def test_the_client_retries_server_errors_and_throttling_then_succeeds(graph: FakeGraph) -> None:
    graph.fail_next(2, status=500)
    graph.fail_next(1, error_code=130429)
    graph.fail_next(1, status=429, error_code=131056)
    with client_for(graph, retries=4) as client:
        wamid = client.send(render("+22890112233", Reply("Reçu"))[0])
    assert wamid == graph.sent[0].wamid and graph.requests == 5


def test_the_client_gives_up_after_its_retries(graph: FakeGraph) -> None:
    graph.fail_next(3, error_code=130429)
    with client_for(graph, retries=2) as client, pytest.raises(GraphError) as exhausted:
        client.send(render("+22890112233", Reply("Reçu"))[0])
    assert exhausted.value.error_code == 130429 and exhausted.value.retryable and graph.requests == 3


@pytest.mark.parametrize("error_code", [131026, 131047, 100])
def test_other_meta_errors_are_not_retried(graph: FakeGraph, error_code: int) -> None:
    graph.fail_next(1, status=400, error_code=error_code)
    with client_for(graph) as client, pytest.raises(GraphError) as refused:
        client.send(render("+22890112233", Reply("Reçu"))[0])
    assert (refused.value.error_code, refused.value.retryable, graph.requests) == (error_code, False, 1)


def test_a_wrong_token_is_refused_once_with_meta_code_190(graph: FakeGraph) -> None:
    with GraphClient(graph.url, graph.phone_number_id, "stolen", backoff_s=0) as client, \
            pytest.raises(GraphError) as refused:
        client.send(render("+22890112233", Reply("x"))[0])
    assert (refused.value.http_status, refused.value.error_code, graph.requests) == (401, 190, 1)


class FlakyTransport:
    """Fails its first ``failures`` posts as a dropped connection would, then posts for real."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.inner = KeepAliveTransport()
        self.stamps: list[float] = []
        self._lock = threading.Lock()

    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> tuple[int, bytes]:
        with self._lock:
            self.stamps.append(time.monotonic())
            failing = self.failures > 0
            self.failures -= 1
        if failing:
            raise ConnectionResetError("connection reset by peer")
        return self.inner.post(url, body, headers, timeout_s)

    def close(self) -> None:
        self.inner.close()


def test_connection_errors_are_retried(graph: FakeGraph) -> None:
    transport = FlakyTransport(failures=2)
    with client_for(graph, transport=transport) as client:
        client.send(render("+22890112233", Reply("x"))[0])
    assert len(transport.stamps) == 3 and len(graph.sent) == 1


def test_the_token_bucket_grants_at_most_burst_plus_rate_times_the_span() -> None:
    now = [0.0]
    bucket = TokenBucket(50.0, 5.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    grants = []
    for _ in range(200):
        bucket.take()
        grants.append(now[0])
    for span in (0.1, 0.5, 1.0):
        busiest = max(sum(1 for g in grants if start <= g <= start + span) for start in grants)
        assert busiest <= 5 + 50 * span + 1
    assert grants[-1] == pytest.approx((200 - 5) / 50)


def test_the_rate_cap_holds_across_threads_sharing_one_client(graph: FakeGraph) -> None:
    rate, burst, count = 200.0, 5.0, 80
    transport = FlakyTransport(failures=0)
    body = render("+22890112233", Reply("x"))[0]
    with client_for(graph, rate_per_s=rate, burst=burst, transport=transport) as client, \
            ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: client.send(body), range(count)))
    stamps = sorted(transport.stamps)
    span = 0.1
    busiest = max(sum(1 for s in stamps if start <= s <= start + span) for start in stamps)
    assert busiest <= burst + rate * span + 2  # +2: a thread may be scheduled late after its grant
    assert len(graph.sent) == count


def test_what_sika_renders_to_stays_within_meta_s_documented_limits() -> None:
    from sika_fakes import meta_limits as meta

    names = [name for name in dir(meta) if name.isupper()]
    assert len(names) >= 15
    for name in names:
        assert getattr(limit, name) <= getattr(meta, name), name
