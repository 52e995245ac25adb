"""Every error code Sika emits, in one place: its meaning and its category.

A code is what clients, tests and operators match on (``SikaError.code``, a problem+json ``code``, a
movement's ``error_code``, a provider outcome's ``error_code``); the message beside it may change, the
code may not. A :class:`Code` is a ``StrEnum``, so ``code="insufficient_funds"`` written as a string
literal anywhere still equals ``Code.INSUFFICIENT_FUNDS`` (``tests/unit/test_error_codes.py`` fails
when ``src/sika`` emits a literal that is not registered here).

The category says what kind of refusal it is, in the domain's words; it is not an HTTP status. The
HTTP edge (:mod:`sika.api.statuses`) turns a category into a status, and ``docs/errors.md`` is
generated from this registry and that mapping (``python -m sika.api.statuses``).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Category", "Code"]


class Category(StrEnum):
    INVALID = "invalid"  # bad input no schema can state
    UNPROCESSABLE = "unprocessable"  # the request breaks its schema, or a provider refused it as asked
    UNAUTHENTICATED = "unauthenticated"  # no, an unknown or a wrong credential (a PIN, a signature)
    FORBIDDEN = "forbidden"  # the caller is known but may not do this (a role, a limit, a freeze)
    NOT_FOUND = "not_found"  # something named does not exist, or is not the caller's to see
    CONFLICT = "conflict"  # a well-formed request meets the state of things or the rules in force
    TOO_LARGE = "too_large"  # a body over its byte limit
    TOO_MANY = "too_many"  # tries ran out for a while
    UPSTREAM = "upstream"  # a provider or a gateway failed or did not answer
    UNAVAILABLE = "unavailable"  # a part of Sika is not configured or not reachable right now
    INTERNAL = "internal"  # Sika's own fault or set-up (a bug, an insecure configuration)


_I, _U, _A, _F = Category.INVALID, Category.UNPROCESSABLE, Category.UNAUTHENTICATED, Category.FORBIDDEN
_N, _C, _L, _M = Category.NOT_FOUND, Category.CONFLICT, Category.TOO_LARGE, Category.TOO_MANY
_P, _D, _X = Category.UPSTREAM, Category.UNAVAILABLE, Category.INTERNAL


class Code(StrEnum):
    """A stable error code, with its category and a one-line meaning."""

    category: Category
    meaning: str

    def __new__(cls, value: str, category: Category, meaning: str) -> Code:
        member = str.__new__(cls, value)
        member._value_ = value
        member.category = category
        member.meaning = meaning
        return member

    # The HTTP layer --------------------------------------------------------------------------------
    VALIDATION_ERROR = "validation_error", _U, "the request breaks its schema (a field missing or mistyped)"
    NOT_FOUND = "not_found", _N, "no such path"
    METHOD_NOT_ALLOWED = "method_not_allowed", _I, "the path does not take this method (see Allow)"
    HTTP_ERROR = "http_error", _I, "the HTTP request itself was refused"
    UNAUTHORIZED = "unauthorized", _A, "no credential, or one Sika does not know"
    FORBIDDEN = "forbidden", _F, "this credential may not do this"
    INTERNAL_ERROR = "internal_error", _X, "an unexpected error; it has been logged"
    DATABASE_UNAVAILABLE = "database_unavailable", _D, "the database did not answer; retry, same key"
    PAYLOAD_TOO_LARGE = "payload_too_large", _L, "a webhook body over its byte limit"
    CALLBACK_TOO_LARGE = "callback_too_large", _L, "a provider callback over its byte limit"
    INVALID_SIGNATURE = "invalid_signature", _A, "a webhook's signature is missing or wrong"
    WHATSAPP_OFF = "whatsapp_off", _N, "WhatsApp is not configured on this server"
    SMS_NOT_CONFIGURED = "sms_not_configured", _N, "SMS is not configured on this server"
    IDEMPOTENCY_KEY_REQUIRED = "idempotency_key_required", _I, "a money request needs an Idempotency-Key"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict", _C, "an Idempotency-Key (or id) reused for another request"
    IDEMPOTENCY_IN_PROGRESS = "idempotency_in_progress", _C, "that key's request is still running"
    FORGED_CALLBACK = "forged_callback", _A, "a provider callback that its adapter could not authenticate"

    # Generic ---------------------------------------------------------------------------------------
    SIKA_ERROR = "sika_error", _I, "an error raised without a code of its own (a bug: every raise names one)"
    CONFIGURATION_ERROR = "configuration_error", _X, "a setting is missing or wrong"
    INSECURE_DEFAULTS = "insecure_defaults", _X, "a public server refused to start with example secrets"
    FAKES_NOT_INSTALLED = "fakes_not_installed", _X, "the sika-fakes distribution is needed and missing"
    FAKES_MISSING = "fakes_missing", _I, "the demo's SMS gateway needs the sika-fakes distribution"
    DEV_SERVER_UNAVAILABLE = "dev_server_unavailable", _I, "a development PostgreSQL or Redis did not start"
    INVALID_NAME = "invalid_name", _I, "a name that is empty or too long"
    INVALID_AMOUNT = "invalid_amount", _I, "an amount that is not a positive whole number of francs in range"
    INVALID_CURSOR = "invalid_cursor", _N, "a page cursor this API did not give"
    INVALID_PATH = "invalid_path", _I, "a file path that cannot be read or written"
    INVALID_DATE = "invalid_date", _I, "a date that does not parse"

    # Phones and wallets ----------------------------------------------------------------------------
    INVALID_MSISDN = "invalid_msisdn", _I, "not a phone number Sika serves"
    NOT_A_MOBILE_NUMBER = "not_a_mobile_number", _I, "a fixed-line or otherwise non-mobile number"
    UNSUPPORTED_COUNTRY = "unsupported_country", _I, "a number outside the XOF zone"
    UNKNOWN_WALLET = "unknown_wallet", _N, "no wallet for that number"
    WALLET_EXISTS = "wallet_exists", _C, "a wallet exists for that number already"
    INVALID_TIER = "invalid_tier", _I, "a KYC tier that does not exist"
    UNSUPPORTED_LANGUAGE = "unsupported_language", _I, "a language Sika does not speak"
    SAME_WALLET = "same_wallet", _C, "a transfer to the payer's own wallet"
    CASH_OUT_FROZEN = "cash_out_frozen", _F, "cash-out is frozen on this wallet for a while after a PIN reset"

    # PINs, passwords and throttles -----------------------------------------------------------------
    WEAK_PIN = "weak_pin", _I, "a PIN too easy to guess (1234, 0000, ...)"
    INVALID_PIN_FORMAT = "invalid_pin_format", _I, "a PIN that is not 4 digits"
    INVALID_PIN = "invalid_pin", _A, "a wrong PIN"
    PIN_LOCKED = "pin_locked", _M, "too many wrong PINs: the wallet is locked for a while"
    PIN_NOT_SET = "pin_not_set", _C, "the wallet has no PIN yet"
    PIN_ALREADY_SET = "pin_already_set", _C, "the wallet has a PIN already"
    INVALID_RESET_CODE = "invalid_reset_code", _A, "a wrong or expired PIN reset code"
    TOO_MANY_ATTEMPTS = "too_many_attempts", _M, "too many tries from this source: wait"

    # Ledger ----------------------------------------------------------------------------------------
    LEDGER_ERROR = "ledger_error", _I, "the ledger refused a request"
    LEDGER_BUSY = "ledger_busy", _D, "the ledger's database is too busy; retry"
    UNKNOWN_ACCOUNT = "unknown_account", _N, "no ledger account with that id"
    CURRENCY_INVALID = "currency_invalid", _I, "a currency the ledger does not keep"
    KIND_INVALID = "kind_invalid", _I, "an account kind the ledger does not know"
    FLAGS_ARE_MUTUALLY_EXCLUSIVE = "flags_are_mutually_exclusive", _I, "limits on debits and credits both"
    METADATA_TOO_LARGE = "metadata_too_large", _I, "an account's metadata is too large"
    ID_INVALID = "id_invalid", _I, "an account id that is not positive"
    EXISTS_WITH_DIFFERENT_FIELDS = "exists_with_different_fields", _I, "an account id taken, other fields"
    TOO_MANY = "too_many", _I, "more accounts or transfers than one call takes"
    BATCH_TOO_LARGE = "batch_too_large", _I, "a linked batch over its size limit"
    ACCOUNT_HAS_PENDING = "account_has_pending", _I, "the account has pending transfers"
    ACCOUNT_CLOSED = "account_closed", _C, "an account in this payment is closed"
    LEDGER_RETRY = "ledger_retry", _D, "a batch rolled back for a reason a retry clears (retried inside)"

    # Payments: refusals a movement records as its error_code -----------------------------------------
    INSUFFICIENT_FUNDS = "insufficient_funds", _C, "the available balance does not cover amount and fee"
    FLOAT_INSUFFICIENT = "float_insufficient", _C, "the agent's float does not cover this cash-in"
    MERCHANT_INSUFFICIENT = "merchant_insufficient", _C, "the merchant's balance does not cover this refund"
    LIMIT_EXCEEDED = "limit_exceeded", _F, "this would exceed the wallet's limits for its KYC tier"
    ALREADY_REFUNDED = "already_refunded", _C, "this payment was refunded already"
    PROVIDER_FAILED = "provider_failed", _P, "the provider refused or failed the payment; nothing was taken"
    PROVIDER_TIMEOUT = "provider_timeout", _P, "the provider did not answer in time; the hold was released"
    PAYMENT_FAILED = "payment_failed", _C, "the payment could not be made"
    HOLD_EXPIRED = "hold_expired", _C, "the hold ran out before the provider answered"
    NO_DRIVER_FOUND = "no_driver_found", _C, "no driver took the ride; the hold was released"
    RIDE_CANCELLED = "ride_cancelled", _C, "the ride was cancelled; the hold was released"

    # Payments: requests ----------------------------------------------------------------------------
    UNKNOWN_TRANSFER = "unknown_transfer", _N, "no such transfer, or not the caller's"
    AMOUNT_BELOW_MINIMUM = "amount_below_minimum", _C, "an amount below the least this payment takes"
    AMOUNT_ABOVE_MAXIMUM = "amount_above_maximum", _C, "an amount above the most this payment takes"
    AMOUNT_REQUIRED = "amount_required", _U, "this product needs an amount"
    AMOUNT_MISMATCH = "amount_mismatch", _C, "the amount is not the bill's or the package's price"
    NOTHING_DUE = "nothing_due", _C, "the bill's subscriber owes nothing"
    NOT_REFUNDABLE = "not_refundable", _C, "this payment cannot be refunded (not completed)"
    UNKNOWN_AGENT = "unknown_agent", _N, "no such agent"
    UNKNOWN_MERCHANT = "unknown_merchant", _N, "no such merchant"
    INVALID_CALLBACK_URL = "invalid_callback_url", _I, "a callback URL that is not https (or local http)"
    UNKNOWN_APPROVAL = "unknown_approval", _N, "no such approval request, or not the caller's"
    APPROVAL_CLOSED = "approval_closed", _C, "the approval request was answered already"
    APPROVAL_EXPIRED = "approval_expired", _C, "the approval request expired"
    NOT_A_PAYOUT = "not_a_payout", _I, "the movement named is not a payout"
    PAYOUT_SETTLED = "payout_settled", _I, "the payout was settled already"
    PAYOUT_IN_PROGRESS = "payout_in_progress", _C, "a payout of this driver is under way"
    BILL_ALREADY_PAID = "bill_already_paid", _C, "this bill is being paid, or was, by another payment"

    # Vouchers --------------------------------------------------------------------------------------
    INVALID_VOUCHER = "invalid_voucher", _N, "no money waiting for this number with this code"
    INVALID_VOUCHER_CODE = "invalid_voucher_code", _N, "a voucher code that is not 8 digits"
    VOUCHER_BLOCKED = "voucher_blocked", _C, "too many wrong codes: the voucher is blocked"
    VOUCHER_EXPIRED = "voucher_expired", _C, "the voucher was not collected in time"
    VOUCHER_SETTLED = "voucher_settled", _C, "the voucher is being paid out, or was already"

    # Providers -------------------------------------------------------------------------------------
    PROVIDER_REJECTED = "provider_rejected", _U, "a provider refused the request as asked"
    PROVIDER_UNAVAILABLE = "provider_unavailable", _D, "a provider did not answer usably; retry later"
    PROVIDER_NOT_CONFIGURED = "provider_not_configured", _D, "this provider is not configured on this server"
    UNKNOWN_PROVIDER = "unknown_provider", _N, "no such provider or biller"
    UNKNOWN_PRODUCT = "unknown_product", _N, "the provider sells no such product"
    UNKNOWN_ORDER = "unknown_order", _N, "the provider has no such order"
    INVALID_REFERENCE = "invalid_reference", _N, "no such meter, subscriber, card or number at the provider"
    ORDER_CONFLICT = "order_conflict", _U, "an order id submitted before with other details"
    QUOTE_CHANGED = "quote_changed", _C, "the provider's price changed since the customer confirmed it"
    DECLINED = "declined", _P, "the provider or the payer declined the payment"
    EXPIRED = "expired", _P, "the payer did not confirm in time"
    INVALID_REQUEST = "invalid_request", _P, "the provider found the request invalid"
    PROVIDER_AUTH_FAILED = "provider_auth_failed", _P, "the provider refused Sika's credentials"
    PAYOUT_REFUSED = "payout_refused", _P, "the provider refused the payout"

    # Messaging -------------------------------------------------------------------------------------
    SMS_REJECTED = "sms_rejected", _U, "the SMS gateway refused the message"
    SMS_UNAVAILABLE = "sms_unavailable", _P, "the SMS gateway could not be reached"
    WHATSAPP_SEND_FAILED = "whatsapp_send_failed", _P, "Meta refused a message or could not be reached"
    UNREACHABLE = "unreachable", _P, "no channel can ever deliver this message to this number"
    LEASE_LOST = "lease_lost", _C, "another worker took a claimed message over; rolled back"
    INVALID_ANSWER = "invalid_answer", _I, "a chat answer that does not fit the step (the reply says why)"

    # Rides -----------------------------------------------------------------------------------------
    UNKNOWN_TRIP = "unknown_trip", _N, "no such trip, or not the caller's"
    UNKNOWN_DRIVER = "unknown_driver", _N, "no such driver"
    UNKNOWN_CITY = "unknown_city", _N, "a city Sika does not serve"
    UNKNOWN_VEHICLE_TYPE = "unknown_vehicle_type", _N, "a vehicle type the city does not have"
    INVALID_PLATE = "invalid_plate", _I, "a plate number that does not parse"
    INVALID_POINT = "invalid_point", _I, "a latitude or longitude out of range"
    OUTSIDE_SERVICE_AREA = "outside_service_area", _C, "a place outside the city's service area"
    DRIVER_EXISTS = "driver_exists", _C, "a driver exists for that wallet already"
    DOCUMENTS_NOT_APPROVED = "documents_not_approved", _C, "the driver's documents are not approved yet"
    DRIVER_BUSY = "driver_busy", _C, "the driver is on another trip"
    OFFER_CLOSED = "offer_closed", _C, "the offer expired or was answered"
    TRIP_TAKEN = "trip_taken", _C, "another driver took the trip"
    OWN_TRIP = "own_trip", _C, "a driver cannot take their own trip"
    TRIP_IN_PROGRESS = "trip_in_progress", _C, "the rider has a trip under way"
    ILLEGAL_TRANSITION = "illegal_transition", _C, "the trip's state does not allow this"
    ALREADY_RATED = "already_rated", _C, "the trip was rated already"
    TOO_MANY_UPDATES = "too_many_updates", _M, "positions come at most one every 2 seconds"
    INVALID_LOCATION_QUERY = "invalid_location_query", _I, "a search radius or count out of range"
    LOCATION_INDEX_ERROR = "location_index_error", _I, "the location index refused a request"
    LOCATION_INDEX_UNAVAILABLE = "location_index_unavailable", _D, "the location index does not answer"
    INVALID_SIMULATION = "invalid_simulation", _I, "a simulation's parameters out of range"

    DRIVER_RESTING = "driver_resting", _C, "the driver reached the hours cap and rests until the time given"

    # Calendar --------------------------------------------------------------------------------------
    CALENDAR_ERROR = "calendar_error", _I, "the calendar refused a request"
    INVALID_WINDOW = "invalid_window", _I, "a quiet-hours window that does not parse or make sense"
    INVALID_RAMADAN_ANNOUNCEMENT = "invalid_ramadan_announcement", _I, "an announcement the calendar refutes"
    DATE_OUT_OF_RANGE = "date_out_of_range", _I, "a date the Umm al-Qura table does not cover"
    PRAYER_TIMES_UNAVAILABLE = "prayer_times_unavailable", _U, "the sun misses a prayer's angle that day"
    INVALID_HORIZON = "invalid_horizon", _I, "a schedule's horizon out of range"
    UNSUPPORTED_PLACE = "unsupported_place", _I, "a place the calendar does not know"

    # Console ---------------------------------------------------------------------------------------
    LOGIN_REFUSED = "login_refused", _A, "a wrong operator name, password or code"
    LOGIN_LOCKED = "login_locked", _A, "too many wrong logins: the operator is locked for a while"
    LOGIN_REQUIRED = "login_required", _A, "no live console session: the browser goes to the login page"
    CSRF_REFUSED = "csrf_refused", _F, "a form without its anti-forgery token"
    FORM_TOO_LARGE = "form_too_large", _I, "a form over its byte limit"
    WEAK_PASSWORD = "weak_password", _I, "an operator password too short or too common"
    INVALID_ROLE = "invalid_role", _I, "an operator role that does not exist"
    OPERATOR_EXISTS = "operator_exists", _I, "an operator with that name exists"
    UNKNOWN_OPERATOR = "unknown_operator", _I, "no operator with that name"
    UNKNOWN_ACTION = "unknown_action", _I, "a proposal kind the console does not know"
    UNKNOWN_PROPOSAL = "unknown_proposal", _I, "no such proposal"
    REASON_REQUIRED = "reason_required", _I, "a proposal needs a reason"
    MAKER_CANNOT_APPROVE = "maker_cannot_approve", _F, "the operator who proposed cannot approve"
    PROPOSAL_CLOSED = "proposal_closed", _C, "the proposal was decided already"
    RIDES_UNAVAILABLE = "rides_unavailable", _I, "rides are not set up on this server"

    # Benchmarks ------------------------------------------------------------------------------------
    BENCH_INVALID_ARGUMENT = "bench_invalid_argument", _I, "a benchmark option out of range"
    BENCH_DATABASE_UNAVAILABLE = "bench_database_unavailable", _I, "the benchmark's database did not start"
    BENCH_REDIS_UNAVAILABLE = "bench_redis_unavailable", _I, "the benchmark's Redis did not start"
    BENCH_SERVER_FAILED = "bench_server_failed", _I, "the benchmark's server did not start or died"
    BENCH_BAD_ANSWER = "bench_bad_answer", _I, "an HTTP answer the load generator cannot frame"
    BENCH_FAILED = "bench_failed", _I, "a benchmark's run failed (its message says where)"
    BENCH_AUDIT_FAILED = "bench_audit_failed", _X, "after a benchmark, the audit or a budget did not add up"

    # Promotions ------------------------------------------------------------------------------------
    PROMOTION_ERROR = "promotion_error", _I, "a promotion could not be handled as asked"
    INVALID_CAMPAIGN = "invalid_campaign", _C, "a campaign's rules, window or budget do not hold together"
    UNKNOWN_CAMPAIGN = "unknown_campaign", _N, "no campaign has this id"
    CAMPAIGN_STATE = "campaign_state", _C, "the campaign's state does not allow this (draft, active, ended…)"
    UNKNOWN_DRAW = "unknown_draw", _N, "no draw has this id"
    DRAW_STATE = "draw_state", _C, "the draw's state does not allow this (committed, revealed…)"
    INVALID_CODE = "invalid_code", _N, "no promotion code like this one"
    CODE_USED = "code_used", _N, "this promotion code was used already"
    OFFER_OVER = "offer_over", _N, "the offer behind this code is over"
    OFFER_CLAIMED = "offer_claimed", _N, "this customer already claimed the offer"
    NO_REFERRAL_OFFER = "no_referral_offer", _N, "no referral offer is running"
    UNKNOWN_REFERRER = "unknown_referrer", _N, "the friend's number has no wallet"
    SELF_REFERRAL = "self_referral", _N, "a customer cannot refer themselves"
    NOT_NEW = "not_new", _N, "referrals are for customers who have not paid yet"
    REFERRED_ALREADY = "referred_already", _N, "this customer was referred already"

    # Notifications, coordination, PIN keys ----------------------------------------------------------
    INVALID_INSTANT = "invalid_instant", _I, "a time that is not ISO-8601 with an offset"
    INVALID_CATEGORY = "invalid_category", _I, "not a notification category (security, marketing…)"
    WHATSAPP_INBOX_BUSY = "whatsapp_inbox_busy", _D, "the inbox cannot store now; Meta sends it again"
    LEASE_UNAVAILABLE = "lease_unavailable", _D, "the job leases' store (Redis or the database) is away"
    PIN_KEY_MISSING = "pin_key_missing", _D, "a PIN hash names a key SIKA_PIN_PEPPER lacks (no try counted)"
    MARKETING_UNSENT = "marketing_unsent", _D, "Meta did not take a promotion now; the outbox tries later"
