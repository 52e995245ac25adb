"""Chat: one dialog engine for WhatsApp, USSD and the terminal, in seven languages.

- The engine: ``dialog`` (one turn: commands, choices, shortcuts, the current step), ``context`` (what
  a step sees), ``state`` (conversations kept between messages), ``messages`` (what channels hand
  over and get back), ``shortcuts``, ``abroad`` (numbers outside the XOF zone), ``i18n``.
- What the engine may call: ``services`` (the ports), built once by ``wiring`` from Sika's services.
- The flows, one module each: ``flows`` (its docstring maps them).
- Channels: ``whatsapp``, ``ussd``, ``sms``; ``routes`` picks the channel of each outbox message.
- Sentences other parts show: ``texts`` (statement lines and receipts, notifications, payouts).

Nothing here imports :mod:`sika.bootstrap`; the dialog imports no channel.
"""
