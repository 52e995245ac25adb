"""Who may call a gateway's callback (Africa's Talking's USSD, SMS delivery reports, airtime status).

Africa's Talking signs none of its callbacks, so a callback is trusted by where it comes from and by
a secret only the gateway knows: the source address must be in ``SIKA_AFRICASTALKING_ALLOWED_IPS``
(when set), and the URL must carry ``?token=<SIKA_AFRICASTALKING_CALLBACK_TOKEN>`` (when set). The
token is compared in constant time. Behind a reverse proxy, the proxy must pass the client's address
(uvicorn's ``--proxy-headers`` with ``--forwarded-allow-ips``).
"""

from __future__ import annotations

import hmac
import ipaddress
from functools import lru_cache

from starlette.requests import Request

from sika.config import Settings

__all__ = ["africastalking_allowed", "allowed_networks"]

_NETWORKS_MAX = 64


@lru_cache(maxsize=8)
def allowed_networks(spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The networks of a comma-separated list of addresses or CIDRs (empty: any source)."""
    parts = [part.strip() for part in spec.split(",") if part.strip()]
    if len(parts) > _NETWORKS_MAX:
        raise ValueError(f"at most {_NETWORKS_MAX} allowed networks")
    return tuple(ipaddress.ip_network(part, strict=False) for part in parts)


def africastalking_allowed(request: Request, settings: Settings) -> bool:
    """Whether this request may be a callback from Africa's Talking."""
    networks = allowed_networks(settings.africastalking_allowed_ips)
    if networks:
        host = request.client.host if request.client is not None else ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if not any(address in network for network in networks):
            return False
    token = settings.africastalking_callback_token
    if token:
        given = request.query_params.get("token", "")
        return hmac.compare_digest(given.encode(), token.encode())
    return True
