"""Who is calling: API keys with roles (admin, agent, merchant) and customer sessions from a PIN."""

from sika.auth.keys import ApiKey, ApiKeys, Role
from sika.auth.sessions import Session, Sessions

__all__ = ["ApiKey", "ApiKeys", "Role", "Session", "Sessions"]
