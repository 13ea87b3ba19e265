"""Access control helpers for the dashboard: password check and bind-address safety.

Pure functions and a tiny throttle, so the login form in ``app.py`` stays a thin view.
"""
from __future__ import annotations

import hmac
import ipaddress
import time
from dataclasses import dataclass, field


def password_matches(given: str, expected: str) -> bool:
    """Constant-time comparison, so response time does not leak how much of a guess was right."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def is_loopback(address: str | None) -> bool:
    """Whether a server bind address only accepts connections from this machine."""
    if not address:
        # Streamlit's default of "" binds every interface.
        return False
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@dataclass
class LoginThrottle:
    """Grows a delay after each failed login (1 s, 2 s, 4 s… capped) to slow guessing."""

    base_s: float = 1.0
    cap_s: float = 30.0
    failures: int = 0
    _last_failure: float = field(default=0.0, repr=False)

    def delay(self) -> float:
        return 0.0 if self.failures == 0 else min(self.cap_s, self.base_s * 2 ** (self.failures - 1))

    def record_failure(self, now: float | None = None) -> float:
        self.failures += 1
        self._last_failure = time.monotonic() if now is None else now
        return self.delay()

    def reset(self) -> None:
        self.failures = 0
