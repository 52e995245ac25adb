"""Free-text shortcuts in seven languages, and a parser that never fails on what people type."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sika.chat.shortcuts import Command, Intent, command, parse_amount, parse_intent


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("envoyer 5000 à 90112233", Intent("send", 5_000, "90112233")),
        ("Envoyer 5 000 F a 90 11 22 33", Intent("send", 5_000, "90112233")),
        ("send 2000 to +22890112233", Intent("send", 2_000, "+22890112233")),
        ("send 5,000 to 90112233", Intent("send", 5_000, "90112233")),
        ("enviar 5000 a 90112233", Intent("send", 5_000, "90112233")),
        ("inviare 100 a 90112233", Intent("send", 100, "90112233")),
        ("enviar 5000 para 90112233", Intent("send", 5_000, "90112233")),
        ("отправить 3000 на 90112233", Intent("send", 3_000, "90112233")),
        ("أرسل ٥٠٠٠ إلى 90112233", Intent("send", 5_000, "90112233")),
        ("solde", Intent("balance")),
        ("BALANCE", Intent("balance")),
        ("saldo", Intent("balance")),
        ("баланс", Intent("balance")),
        ("رصيد", Intent("balance")),
        ("crédit 1000 pour 97112233", Intent("airtime", 1_000, "97112233")),
        ("airtime 1000 for 97112233", Intent("airtime", 1_000, "97112233")),
        ("recharge 500", Intent("airtime", 500, None)),
        ("credito 1000 para 97112233", Intent("airtime", 1_000, "97112233")),
        ("شحن 1000 ل 97112233", Intent("airtime", 1_000, "97112233")),
        ("historique", Intent("history")),
    ],
)
def test_shortcuts(text: str, intent: Intent) -> None:
    assert parse_intent(text) == intent


@pytest.mark.parametrize("text", ["", "bonjour", "envoyer", "send money", "send 0 to 90112233",
                                  "envoyer 5000", "4827", "90112233", "send -5 to 90112233"])
def test_what_is_not_a_shortcut(text: str) -> None:
    assert parse_intent(text) is None


@pytest.mark.parametrize(("text", "cmd"), [("0", Command.BACK), ("retour", Command.BACK),
                                           ("Annuler", Command.CANCEL), ("cancel", Command.CANCEL),
                                           ("menu", Command.MENU), ("Bonjour", Command.MENU),
                                           ("aide", Command.HELP), ("مساعدة", Command.HELP),
                                           ("назад", Command.BACK), ("5000", None)])
def test_commands(text: str, cmd: Command | None) -> None:
    assert command(text) == cmd


@pytest.mark.parametrize(("text", "amount"), [("5000", 5_000), ("5 000", 5_000), ("5.000 F", 5_000),
                                              ("1,250,000", 1_250_000), ("٥٠٠", 500), ("0", None),
                                              ("abc", None), ("5000000000000000", None)])
def test_amounts(text: str, amount: int | None) -> None:
    assert parse_amount(text) == amount


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=600))
def test_the_parser_never_fails(text: str) -> None:
    intent = parse_intent(text)
    assert intent is None or intent.action in {"send", "airtime", "balance", "history"}
    assert intent is None or intent.amount is None or 0 < intent.amount <= 10**12
    command(text)
    parse_amount(text)


def _normalized_the_long_way(text: str) -> str:
    """What ``normalize`` did for every text before its shortcut for ASCII."""
    import unicodedata

    out = []
    for char in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(char) and not ("\u0600" <= char <= "\u06ff"):
            continue
        out.append(str(unicodedata.digit(char, 0)) if char.isdigit() and not char.isascii() else char)
    return " ".join("".join(out).casefold().split())


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=60))
def test_ascii_texts_take_a_shortcut_to_the_same_normal_form(text: str) -> None:
    from sika.chat.shortcuts import normalize

    assert normalize(text) == _normalized_the_long_way(text)


@pytest.mark.parametrize("text", ["Mon SOLDE", "envoyer 500 à 90", "١٢٣ ٤", "Straße", "ÉTÉ  été", "مرحبا"])
def test_other_texts_are_decomposed_as_before(text: str) -> None:
    from sika.chat.shortcuts import normalize

    assert normalize(text) == _normalized_the_long_way(text)
