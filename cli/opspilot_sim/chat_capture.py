"""Chat webhooks, captured at the HTTP boundary: the simulator's Slack and Microsoft Teams.

``installed`` replaces ``urllib.request.urlopen`` for the duration of a run. A POST to a Slack or
Teams incoming-webhook host is recorded and answered the way the service answers (200); any
other URL fails as it would on a machine without network. The functions' code is unchanged: it
posts with ``urllib.request`` exactly as in AWS.
"""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

SLACK_HOSTS = ("hooks.slack.com",)
TEAMS_SUFFIXES = (".webhook.office.com", ".logic.azure.com", ".environment.api.powerplatform.com")


def channel_of(url: str) -> str | None:
    host = (urlsplit(url).hostname or "").lower()
    if urlsplit(url).scheme != "https":
        return None
    if host in SLACK_HOSTS:
        return "slack"
    if host.endswith(TEAMS_SUFFIXES):
        return "teams"
    return None


@dataclass
class ChatPost:
    channel: str
    host: str
    payload: dict[str, Any]

    def buttons(self) -> list[dict[str, str]]:
        """(title, url) of every button that opens a page."""
        if self.channel == "slack":
            blocks = self.payload.get("blocks", [])
            elements = [e for b in blocks if b.get("type") == "actions" for e in b.get("elements", [])]
            return [{"title": e["text"]["text"], "url": e["url"]} for e in elements if "url" in e]
        cards = [a.get("content", {}) for a in self.payload.get("attachments", [])]
        return [
            {"title": a["title"], "url": a["url"]}
            for card in cards
            for a in card.get("actions", [])
            if a.get("type") == "Action.OpenUrl"
        ]


@dataclass
class ChatCapture:
    posts: list[ChatPost] = field(default_factory=list)
    status: dict[str, int] = field(default_factory=dict)  # channel -> HTTP status to answer
    lock: threading.Lock = field(default_factory=threading.Lock)

    def urlopen(self, request: Any, data: Any = None, timeout: float | None = None, **_: Any) -> Any:
        url = request.full_url if isinstance(request, urllib.request.Request) else str(request)
        channel = channel_of(url)
        if channel is None:
            raise urllib.error.URLError("simulator: no network (only chat webhooks are simulated)")
        body = request.data if isinstance(request, urllib.request.Request) else data
        payload = json.loads(body if isinstance(body, bytes) else b"{}")
        status = self.status.get(channel, 200)
        with self.lock:
            self.posts.append(ChatPost(channel, urlsplit(url).hostname or "", payload))
        if status >= 400:
            raise urllib.error.HTTPError(url, status, "simulated failure", Message(), io.BytesIO(b""))
        return _Response(status)


class _Response(io.BytesIO):
    def __init__(self, status: int) -> None:
        super().__init__(b"ok")
        self.status = status

    def __enter__(self) -> _Response:
        return self


@contextmanager
def installed(capture: ChatCapture) -> Iterator[ChatCapture]:
    original = urllib.request.urlopen
    urllib.request.urlopen = capture.urlopen  # type: ignore[assignment]
    try:
        yield capture
    finally:
        urllib.request.urlopen = original
