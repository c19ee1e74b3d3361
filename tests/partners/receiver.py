"""A partner's webhook, for tests and the benchmark: real HTTP on a random local port.

Records every token it is sent whole (RFC 8935 push: POST ``application/secevent+jwt``;
a body cut short of its Content-Length is not an event) and answers 202, or the status a
test asks for. Checking the token is left to the test, so
that a broken signature fails the test rather than being hidden in the server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self, delay: float = 0.0) -> None:
        self.tokens: list[str] = []
        self.content_types: list[str] = []
        self.delay = delay
        #: Called with the token; returns the status to answer (default 202).
        self.respond: Callable[[str], int] = lambda _token: 202
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real partner would

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                if len(raw) < length:
                    # The sender went away mid-body (a worker killed while posting): a
                    # partner never takes a truncated request as an event.
                    self.close_connection = True
                    return
                token = raw.decode("ascii", "replace")
                if receiver.delay:
                    time.sleep(receiver.delay)
                status = receiver.respond(token)
                if 200 <= status < 300:
                    with receiver._lock:
                        receiver.tokens.append(token)
                        receiver.content_types.append(self.headers.get("Content-Type", ""))
                body = b"" if status == 202 else b'{"err":"invalid_request"}'
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                if body:
                    self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                body = str(receiver.count()).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}/events"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def count(self) -> int:
        with self._lock:
            return len(self.tokens)


def main() -> None:
    """Serve until killed, printing the URL (``python -m tests.partners.receiver``)."""
    import sys

    server = Receiver()
    print(server.url, flush=True)
    sys.stdout.close()
    server.server.serve_forever()


if __name__ == "__main__":
    main()
