"""Chat: one dialog engine for WhatsApp, USSD and the terminal, in seven languages."""
