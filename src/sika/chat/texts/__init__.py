"""Sentences about money and rides that other parts of Sika show, in the reader's language.

``statement`` renders statement items (history lines, receipts, the REST and console rows),
``notifications`` the outbox's receipts and notices as channels deliver them, ``payouts`` a driver's
payout. The chat's own screens are in :mod:`sika.chat.flows`.
"""
