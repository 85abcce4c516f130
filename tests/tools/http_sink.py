#!/usr/bin/env python3
"""A small, real HTTP sink for webhook tests (stdlib only).

Listens on 127.0.0.1:PORT (PORT 0 picks a free one; the chosen port is printed alone on the
first line of stdout, then stdout is flushed), accepts POSTs whose body is a JSON array of
events (or one JSON object) and appends each event, one per line, to --out (JSONL), but only
for requests it answered with 2xx.  Every request, answered or not, is logged as one JSON line
to --requests: {"n", "method", "path", "status", "idempotency_key", "content_type", "headers"
(lower-cased names), "bytes", "events", "error"}.

Behaviours:
  (default)                 answer 200 {"accepted": n}
  --status CODE --count N   answer CODE to the first N POSTs, then 200 (N = -1: always CODE);
                            e.g. --status 503 --count 3 for retry tests, --status 400 --count -1
                            for dead-letter tests.  429/503 answers carry Retry-After: 0.
  --hang                    accept connections and never answer (the handler blocks until the
                            process exits), for timeout / deadline tests.

GET /health answers 200 {"requests": n, "events": m}.  SIGTERM or SIGINT stops the server.

Example:
  python3 tests/tools/http_sink.py --port 0 --out /tmp/sink/events.jsonl --status 503 --count 2
"""

import argparse
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Sink:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.posts = 0
        self.events = 0
        self.hang_forever = threading.Event()  # never set: --hang handlers wait on it
        for path in (args.out, args.requests):
            if path:
                d = os.path.dirname(os.path.abspath(path))
                os.makedirs(d, exist_ok=True)
        self.out = open(args.out, "a", encoding="utf-8") if args.out else None
        self.req_log = open(args.requests, "a", encoding="utf-8") if args.requests else None

    def next_status(self):
        """The status to answer the next POST with (called under the lock)."""
        self.posts += 1
        a = self.args
        if a.status is not None and (a.count < 0 or self.posts <= a.count):
            return a.status
        return 200

    def log_request(self, record):
        if self.req_log:
            self.req_log.write(json.dumps(record, sort_keys=True) + "\n")
            self.req_log.flush()


def make_handler(sink):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real endpoints do

        def log_message(self, fmt, *a):  # quiet unless --verbose
            if sink.args.verbose:
                sys.stderr.write("http_sink: " + (fmt % a) + "\n")

        def reply(self, status, obj, extra_headers=()):
            body = json.dumps(obj).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra_headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def read_body(self):
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()  # CRLF after each chunk
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length > 0 else b""

        def do_GET(self):
            if sink.args.hang:
                sink.hang_forever.wait()
                return
            if self.path in ("/health", "/healthz"):
                with sink.lock:
                    self.reply(200, {"requests": sink.posts, "events": sink.events})
            else:
                self.reply(404, {"error": "not found"})

        def do_POST(self):
            if sink.args.hang:
                # Accepted the connection, never answer: the client must rely on its timeout.
                sink.hang_forever.wait()
                return
            body = self.read_body()
            record = {
                "method": "POST",
                "path": self.path,
                "idempotency_key": self.headers.get("Idempotency-Key"),
                "content_type": self.headers.get("Content-Type"),
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "bytes": len(body),
                "events": 0,
                "error": None,
            }
            events = None
            try:
                doc = json.loads(body.decode("utf-8"))
                events = doc if isinstance(doc, list) else [doc]
                record["events"] = len(events)
            except (UnicodeDecodeError, ValueError) as e:
                record["error"] = "body is not JSON: %s" % e
            with sink.lock:
                status = sink.next_status()
                if events is None and 200 <= status < 300:
                    status = 400
                record["n"] = sink.posts
                record["status"] = status
                if 200 <= status < 300 and sink.out:
                    for ev in events:
                        sink.out.write(json.dumps(ev, separators=(",", ":")) + "\n")
                    sink.out.flush()
                    sink.events += len(events)
                sink.log_request(record)
            if 200 <= status < 300:
                self.reply(status, {"accepted": len(events)})
            else:
                extra = [("Retry-After", "0")] if status in (429, 503) else []
                self.reply(status, {"error": record["error"] or "configured failure %d" % status}, extra)

    return Handler


def main():
    p = argparse.ArgumentParser(description="HTTP sink for webhook tests")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: pick one, print it)")
    p.add_argument("--out", help="JSONL file receiving every event of every 2xx-answered POST")
    p.add_argument("--requests", help="JSONL file receiving one record per request")
    p.add_argument("--status", type=int, help="status to answer the first --count POSTs with")
    p.add_argument("--count", type=int, default=-1, help="how many POSTs get --status (-1: all)")
    p.add_argument("--hang", action="store_true", help="accept connections and never answer")
    p.add_argument("--verbose", action="store_true", help="log every request on stderr")
    args = p.parse_args()

    sink = Sink(args)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(sink))
    server.daemon_threads = True  # hung handlers must not keep the process alive
    print(server.server_address[1], flush=True)

    def stop(signum, frame):
        # shutdown() waits for serve_forever to return, so run it off the main thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
