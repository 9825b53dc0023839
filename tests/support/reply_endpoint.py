"""A business's auto-reply endpoint, run as its own process on loopback
(python -m tests.support.reply_endpoint PORT RECORD_FILE). By path:
/reply answers {"reply": ...}; /hang never answers; /error answers 500;
/malformed answers 200 with no JSON. Every request is appended to
RECORD_FILE (path, headers, body) for the test to check."""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RECORD_LOCK = threading.Lock()


class Endpoint(BaseHTTPRequestHandler):
    record_file = ""

    def do_GET(self) -> None:   # the test's readiness probe
        self._answer(200, b"ready", "text/plain")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with RECORD_LOCK, open(self.record_file, "a", encoding="utf-8") as record:
            record.write(json.dumps({"path": self.path, "headers": dict(self.headers),
                                     "body": base64.b64encode(body).decode()}) + "\n")
        if self.path == "/hang":
            time.sleep(3600)
        elif self.path == "/error":
            self._answer(500, b'{"error": "down"}', "application/json")
        elif self.path == "/malformed":
            self._answer(200, b"<html>ok</html>", "text/html")
        else:
            sender = json.loads(body)["from"]
            reply = {"reply": f"Your crew link: https://crew.example/m/{sender[-4:]}"}
            self._answer(200, json.dumps(reply).encode(), "application/json")

    def _answer(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    Endpoint.record_file = sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Endpoint)
    server.daemon_threads = True
    server.serve_forever()
