#!/usr/bin/env python3
"""http_receiver.py -- a local HTTP receiver for scenario tests of pipewatch's HTTP sinks.

Listens on 127.0.0.1 on a port the OS chooses (or --port) and writes that port to --port-file (atomically, via a
rename, so a reader never sees half a number). Every request is recorded as one JSON line in --record:

  {"t": 1764212345.123, "method": "POST", "path": "/hook", "headers": {"content-type": "..."},
   "body": "...", "mode": "ok"}

(`t` is the wall-clock arrival time in seconds; header names are lower-cased; the body is decoded as
UTF-8 with invalid bytes replaced). The line is written and flushed before any answer is sent, so a test
that sees the line knows the request fully arrived.

Modes (--mode):
  ok    answer 200 with a short body;
  500   answer 500; with --echo the response body repeats the request's path and header values, the
        way some error pages do, to check that the client does not log what a server echoes back;
  hang  read the request, record it, and never answer: the connection stays open until the client
        gives up and closes it (or the receiver is stopped).

Connections are served one thread each and kept alive (HTTP/1.1), like a real webhook endpoint.
Standard library only. Stops on SIGTERM/SIGINT. Not a general server: no chunked request bodies.
"""
import argparse
import json
import os
import select
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 8 << 20


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as real servers set it: the answer goes out as two writes (headers, then body), and
    # with Nagle's algorithm the second one waits for the client's delayed ACK (40 ms on Linux), which
    # capped a kept-alive client at ~25 requests/s (measured by tests/bench/latency).
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):  # keep stderr quiet: the test reads the record file
        pass

    def _record(self, body):
        srv = self.server
        rec = {
            "t": time.time(),
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8", errors="replace"),
            "mode": srv.mode,
        }
        line = json.dumps(rec, ensure_ascii=False) + "\n"
        with srv.lock:
            srv.record.write(line)
            srv.record.flush()

    def _answer(self, status, body):
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _hang(self):
        """Never answer; return once the client closes the connection or the server stops."""
        conn = self.connection
        while not self.server.stopping.is_set():
            r, _, _ = select.select([conn], [], [], 0.2)
            if not r:
                continue
            try:
                if not conn.recv(4096):
                    break  # closed by the client
            except OSError:
                break
        self.close_connection = True

    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0 or n > MAX_BODY:
            self._answer(413, "too large")
            self.close_connection = True
            return
        body = self.rfile.read(n) if n else b""
        self._record(body)
        mode = self.server.mode
        if mode == "hang":
            self._hang()
        elif mode == "500":
            text = "internal error"
            if self.server.echo:
                # what a careless error page might say: the request's own secrets
                text += " for " + self.path + "; request headers: " + "; ".join(
                    "%s=%s" % (k, v) for k, v in self.headers.items())
            self._answer(500, text)
        else:
            self._answer(200, "ok")

    do_POST = _handle
    do_PUT = _handle
    do_GET = _handle


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["ok", "500", "hang"], default="ok")
    ap.add_argument("--port-file", required=True, help="where to write the port chosen by the OS")
    ap.add_argument("--record", required=True, help="JSON-lines file of the requests received")
    ap.add_argument("--echo", action="store_true", help="500 mode: echo path and header values back")
    ap.add_argument("--port", type=int, default=0,
                    help="listen on this port (0: one the OS chooses), e.g. to come back where a receiver was")
    a = ap.parse_args()

    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    srv.mode = a.mode
    srv.echo = a.echo
    srv.lock = threading.Lock()
    srv.stopping = threading.Event()
    srv.record = open(a.record, "a", encoding="utf-8")

    def stop(signum, frame):
        srv.stopping.set()
        # shutdown() waits for serve_forever, which runs in this (main) thread: do it from another one
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, a.port_file)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.stopping.set()
        srv.server_close()
        srv.record.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
