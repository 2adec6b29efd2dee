"""HTTP details around the GitHub client that need no PyGithub: pacing requests across threads,
reading headers and answers, describing transport errors without their headers, rate-limit errors."""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import requests

from analyzer.errors import RateLimitError

_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class Cut(Exception):
    """A download that ended before Content-Length bytes arrived, or a blob host error worth retrying."""


class Stale(Exception):
    """The short-lived download URL no longer works: ask the API for a fresh one."""


class Pacer:
    """At most ``per_minute`` requests in any 60 s, across threads."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def wait(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                while self._times and now - self._times[0] >= 60.0:
                    self._times.popleft()
                if len(self._times) < self.per_minute:
                    self._times.append(now)
                    return
                delay = 60.0 - (now - self._times[0])
            time.sleep(max(delay, 0.01))


def decode_content(data: Any) -> str | None:
    """The text of a ``/contents`` answer (base64), or None if it is not a file."""
    if not isinstance(data, dict) or data.get("type", "file") != "file":
        return None
    content = data.get("content")
    if not isinstance(content, str):
        return None
    try:
        return base64.b64decode(content).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    request.headers.pop("Authorization", None)
    return request


def rate_error(reset: float) -> RateLimitError:
    when = time.strftime("%H:%M UTC", time.gmtime(reset))
    minutes = max(1, round((reset - time.time()) / 60))
    return RateLimitError(
        f"the GitHub API rate limit is used up until {when} (in about {minutes} min)",
        hint=f"run the same command again after {when} to resume, or raise --max-wait to wait for the reset",
        reset_at=reset,
    )


def int_header(headers: Mapping[str, Any], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.title())
    try:
        return int(float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def next_link(link: str | None) -> str | None:
    if not link:
        return None
    match = _LINK_NEXT.search(link)
    return match.group(1) if match else None


def loads(body: Any) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (TypeError, ValueError):
        return None


def describe(exc: BaseException) -> str:
    """A short, header-free description of a transport error."""
    if isinstance(exc, Cut):
        return str(exc)
    if isinstance(exc, requests.exceptions.Timeout):
        return "timed out"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the connection broke in the middle of the answer"
    if isinstance(exc, requests.exceptions.RetryError):
        return "too many failed tries"
    if isinstance(exc, requests.exceptions.ConnectionError | ConnectionError):
        return "connection failed or was reset"
    return type(exc).__name__
