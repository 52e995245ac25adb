"""A device named with a customer's request is kept only on that customer's own payments, as a keyed
digest; nothing else in the request, and no other request, sees it."""

from __future__ import annotations

import contextvars
import threading

import pytest

from sika.payments.devices import Device, acting_device, device_digest, paying_from

KEY = b"promotions-key-of-this-test"


def test_only_the_customer_who_named_the_device_pays_from_it() -> None:
    def request() -> tuple[str | None, str | None, str | None]:
        paying_from(Device(7, device_digest("install-7f3a9c21", KEY)))
        return acting_device(7), acting_device(8), acting_device(None)

    own, rider, nobody = contextvars.copy_context().run(request)
    assert own == device_digest("install-7f3a9c21", KEY) and len(own) == 24
    assert rider is None and nobody is None  # a driver's phone ending a rider's card ride
    assert acting_device(7) is None  # the request's context, not this one


def test_a_device_digest_is_keyed_and_refuses_what_the_api_would() -> None:
    digest = device_digest("install-7f3a9c21", KEY)
    assert digest == device_digest("install-7f3a9c21", KEY)
    assert digest != device_digest("install-7f3a9c21", b"another key")
    for bad in ("short", "x" * 129, "with space in it", "tab\there-and-more"):
        with pytest.raises(ValueError, match="8 to 128"):
            device_digest(bad, KEY)


def test_a_thread_the_request_hands_its_payment_to_sees_the_device_and_others_do_not() -> None:
    seen: list[str | None] = []

    def request() -> None:
        paying_from(Device(7, "d" * 24))
        worker = threading.Thread(target=contextvars.copy_context().run, args=(lambda: seen.append(
            acting_device(7)),))  # as Starlette's run_in_threadpool hands it over
        worker.start()
        worker.join()

    contextvars.copy_context().run(request)
    elsewhere = threading.Thread(target=lambda: seen.append(acting_device(7)))  # a job's thread
    elsewhere.start()
    elsewhere.join()
    assert seen == ["d" * 24, None]
