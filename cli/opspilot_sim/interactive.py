"""``opspilot simulate --interactive``: the approval API on localhost, decided by a person.

``ApprovalServer`` is a small ``http.server`` that turns each request for
``/approvals/<id>`` into the API Gateway HTTP API (payload 2.0) event the real approval handler
receives in AWS, and writes the handler's response back. The runner points ``APPROVAL_BASE_URL``
at it, so the links in the simulated emails and chat messages open in a browser.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

from opspilot_sim.approver import approval_event, call

PATH = re.compile(r"^/approvals/([^/?#]*)(?:\?(.*))?$")
MAX_REQUEST_BYTES = 64 * 1024  # the handler itself refuses anything above 4 KiB


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_REQUEST_BYTES:
            self._write(413, {"content-type": "text/plain"}, b"request too large\n", method)
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else None
        match = PATH.match(self.path)
        if match is None:
            self._write(404, {"content-type": "text/plain"}, b"not found: only /approvals/<id>\n", method)
            return
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        event = approval_event(
            match.group(1),
            method,
            body,
            headers=headers,
            query=match.group(2) or "",
            source_ip=self.client_address[0],
            user_agent=headers.get("user-agent", ""),
            host=headers.get("host", ""),
        )
        response = call(event)
        status = int(response["statusCode"])
        self._write(status, response.get("headers") or {}, str(response.get("body") or "").encode(), method)
        self.server.session.served(method, match.group(1), status)

    def _write(self, status: int, headers: dict[str, str], body: bytes, method: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: ``InteractiveSession.served`` prints one line per request, without the link id."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    session: InteractiveSession


@dataclass
class InteractiveSession:
    """What the person at the terminal sees: each approval link as it is sent, each request the
    server answers. ``on_link`` lets a test (the browser test) receive the links instead."""

    base_url: str = ""
    out: TextIO = field(default_factory=lambda: sys.stdout)
    on_link: Callable[[str, str, int], None] | None = None
    links: list[tuple[str, str, int]] = field(default_factory=list)
    announced: set[tuple[str, int]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def say(self, text: str) -> None:
        with self.lock:
            print(text, file=self.out, flush=True)

    def offer(self, approver: str, url: str, round_: int, note: dict[str, Any]) -> None:
        self.links.append((approver, url, round_))
        if (str(note.get("incident_id")), round_) not in self.announced:
            self.announced.add((str(note.get("incident_id")), round_))
            kind = "approval" if round_ == 1 else "escalated approval (round 2)"
            self.say(f"\n>> {kind} needed: {note.get('subject')}")
            self.say("   one link per approver; open one in a browser (it decides as that approver):")
        self.say(f"   {approver}: {url}")
        if self.on_link is not None:
            self.on_link(approver, url, round_)

    def served(self, method: str, link_id: str, status: int) -> None:
        self.say(f"   {method} /approvals/{link_id[:6]}... -> {status}")

    def pending(self, items: list[dict[str, Any]]) -> None:
        self.say("   waiting for a decision; Ctrl-C stops the simulation")
        for item in items:
            self.say(
                f"   pending: incident {item.get('incident_id')} round {item.get('round')} "
                f"({', '.join(item.get('approvers') or [])}) until {item.get('expires_at')}"
            )


class ApprovalServer:
    """The approval API on ``host:port`` (port 0 picks a free one), served from a thread."""

    def __init__(self, session: InteractiveSession, host: str = "127.0.0.1", port: int = 8765) -> None:
        self.httpd = _Server((host, port), _Handler)
        self.httpd.session = session
        bound_port = int(self.httpd.server_address[1])
        session.base_url = f"http://{host}:{bound_port}"
        self.session = session
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="approval-server", daemon=True)

    def __enter__(self) -> ApprovalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def simulate_interactive(
    scenarios: list[dict[str, Any]], port: int, verbose: bool = False, as_json: bool = False
) -> int:
    """Run one scenario with the approval API on 127.0.0.1:``port``; a person decides."""
    import json

    from opspilot_sim.report import render_text
    from opspilot_sim.runner import run_scenario

    if len(scenarios) != 1:
        print("opspilot: --interactive runs exactly one scenario", file=sys.stderr)
        return 2
    session = InteractiveSession()
    try:
        server = ApprovalServer(session, port=port)
    except OSError as exc:
        print(f"opspilot: cannot listen on 127.0.0.1:{port}: {exc.strerror}", file=sys.stderr)
        return 2
    with server:
        session.say(f"approval API on {session.base_url} (approval pages: {session.base_url}/approvals/<id>)")
        session.say(f"running scenario {scenarios[0]['name']} ...")
        try:
            report = run_scenario(scenarios[0], quiet_logs=not verbose, interactive=session)
        except KeyboardInterrupt:
            session.say("\nstopped: the execution was stopped, nothing more was changed")
            return 130
    session.say("\nworkflow finished:\n")
    print(json.dumps(report, indent=2, default=str) if as_json else render_text(report))
    return 0
