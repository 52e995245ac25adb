"""``sika chat``: talk to the dialog engine in the terminal, as WhatsApp and USSD users do."""

from __future__ import annotations

import getpass
import sys
import uuid

import typer

from sika import phones
from sika.chat.i18n import LANGUAGES
from sika.chat.messages import Inbound, InboundKind, Reply

__all__ = ["chat"]


def chat(
    phone: str = typer.Option(..., help="The number you chat as, e.g. +22890112233."),
    lang: str | None = typer.Option(
        None, help=f"Show the conversation in this language ({', '.join(LANGUAGES)})."),
) -> None:
    """Chat with Sika in the terminal: the same menus, forms and shortcuts as on WhatsApp. Ctrl-D ends."""
    from sika.bootstrap import bootstrap
    from sika.chat.dialog import Dialog
    from sika.config import settings

    if lang is not None and lang not in LANGUAGES:
        raise typer.BadParameter(f"choose one of {', '.join(LANGUAGES)}", param_hint="--lang")
    msisdn = phones.normalize(phone)
    container = bootstrap(settings())
    assert container.chat is not None, "bootstrap wires the chat"
    dialog = Dialog(container.chat)
    try:
        _show(dialog.handle(_inbound(msisdn, "menu"), language=lang).replies)
        while True:
            try:
                secret = dialog.expects_secret("terminal", msisdn)
                line = getpass.getpass("PIN> ") if secret else input("> ")
            except EOFError:
                typer.echo("")
                break
            if not line.strip():
                continue
            _show(dialog.handle(_inbound(msisdn, line), language=lang).replies)
    finally:
        container.close()


def _inbound(msisdn: str, text: str) -> Inbound:
    return Inbound(channel="terminal", msisdn=msisdn, kind=InboundKind.TEXT, message_id=uuid.uuid4().hex,
                   text=text)


def _show(replies: list[Reply]) -> None:
    for reply in replies:
        typer.echo(reply.text)
        for number, choice in enumerate(reply.choices, start=1):
            description = f" ({choice.description})" if choice.description else ""
            typer.echo(f"  {number}. {choice.title}{description}")
        typer.echo("")
    sys.stdout.flush()
