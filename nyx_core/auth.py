"""Access control helpers for the dashboard: password hashing and checking, bind-address safety,
and the sign-in throttle shared by every session of the server process.

Pure functions and one small in-process store, so the sign-in form stays a thin view.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field

# scrypt cost: 16 MiB and ~50 ms per check on a small CPU; slow for a guesser, fine for a sign-in.
_N, _R, _P = 2**14, 8, 1
_PREFIX = "scrypt"


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$<salt>$<hash>`` (base64): what ``settings.toml`` stores, never the text."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
    return f"{_PREFIX}${_N}${_R}${_P}${b64(salt)}${b64(digest)}"


def is_password_hash(text: str) -> bool:
    return _parse(text) is not None


def _parse(text: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = str(text).split("$")
    if len(parts) != 6 or parts[0] != _PREFIX:
        return None
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt, digest = base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
    except ValueError:
        return None
    # Bounded costs: a hand-edited hash must not make each sign-in take gigabytes.
    if not (2 <= n <= 2**17 and n & (n - 1) == 0 and 1 <= r <= 16 and 1 <= p <= 4 and salt and len(digest) == 32):
        return None
    return n, r, p, salt, digest


def verify_password(given: str, stored: str) -> bool:
    parsed = _parse(stored)
    if parsed is None:
        return False
    n, r, p, salt, digest = parsed
    got = hashlib.scrypt(given.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=r, p=p,
                         maxmem=128 * n * r * p + 2**20, dklen=len(digest))
    return hmac.compare_digest(got, digest)


def password_matches(given: str, expected: str) -> bool:
    """Constant-time comparison, so response time does not leak how much of a guess was right."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


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


class SignInGuard:
    """Failed sign-ins counted per client address and for the whole server, across sessions.

    A fresh browser session (or a hundred in parallel) shares this state, so a guesser gets
    ``free`` tries per address, then one try per growing wait (``base_s`` doubling up to
    ``cap_s``), and never more than ``global_per_minute`` failures a minute from everywhere
    together. While a wait runs, no guess is checked at all.
    """

    def __init__(self, *, free: int = 3, base_s: float = 2.0, cap_s: float = 300.0,
                 global_per_minute: int = 20, forget_s: float = 3600.0, max_addresses: int = 10_000) -> None:
        self.free, self.base_s, self.cap_s = free, base_s, cap_s
        self.global_per_minute, self.forget_s, self.max_addresses = global_per_minute, forget_s, max_addresses
        self._lock = threading.Lock()
        self._by_addr: dict[str, tuple[int, float]] = {}  # address -> (failures, last failure time)
        self._recent: deque[float] = deque()  # failure times in the last minute, all addresses

    def _addr_wait(self, address: str, now: float) -> float:
        failures, last = self._by_addr.get(address, (0, 0.0))
        if failures < self.free:
            return 0.0
        delay = min(self.cap_s, self.base_s * 2 ** (failures - self.free))
        return max(0.0, last + delay - now)

    def _global_wait(self, now: float) -> float:
        while self._recent and self._recent[0] <= now - 60.0:
            self._recent.popleft()
        if len(self._recent) < self.global_per_minute:
            return 0.0
        return max(0.0, self._recent[0] + 60.0 - now)

    def wait_s(self, address: str | None, now: float | None = None) -> float:
        """Seconds until ``address`` may try again (0: now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return max(self._addr_wait(address or "?", now), self._global_wait(now))

    def failure(self, address: str | None, now: float | None = None) -> float:
        """Record a failed sign-in; returns the wait before the next try from that address."""
        now = time.monotonic() if now is None else now
        key = address or "?"
        with self._lock:
            if len(self._by_addr) >= self.max_addresses:
                self._by_addr = {a: v for a, v in self._by_addr.items() if now - v[1] < self.forget_s}
                if len(self._by_addr) >= self.max_addresses:
                    self._by_addr.pop(next(iter(self._by_addr)))
            failures, last = self._by_addr.get(key, (0, 0.0))
            if failures and now - last > self.forget_s:
                failures = 0
            self._by_addr[key] = (failures + 1, now)
            self._recent.append(now)
            return max(self._addr_wait(key, now), self._global_wait(now))

    def success(self, address: str | None) -> None:
        with self._lock:
            self._by_addr.pop(address or "?", None)

    def reset(self) -> None:
        with self._lock:
            self._by_addr.clear()
            self._recent.clear()


#: The one guard of this server process (every Streamlit session runs in it).
GUARD = SignInGuard()
