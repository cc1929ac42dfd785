#!/usr/bin/env python3
"""Static file server for bench/delta-bench.sh: serves DIR on 127.0.0.1:PORT and
appends one line per request to LOG: "METHOD PATH STATUS BYTES", where BYTES is
the size of the body actually sent (0 for errors).

    delta-http.py DIR PORT LOG
"""
import http.server
import sys

root, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]


class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **kw):
        super().__init__(*a, directory=root, **kw)

    def copyfile(self, source, outputfile):
        n = 0
        while True:
            buf = source.read(64 * 1024)
            if not buf:
                break
            outputfile.write(buf)
            n += len(buf)
        self._sent = n

    def log_request(self, code="-", size="-"):
        self._code = code

    def log_message(self, *a):
        pass

    def handle_one_request(self):
        self._sent, self._code = 0, None
        super().handle_one_request()
        if self._code is not None:
            code = getattr(self._code, "value", self._code)
            with open(log, "a") as f:
                f.write(f"{self.command} {self.path} {code} {self._sent}\n")


http.server.ThreadingHTTPServer.allow_reuse_address = True
# socketserver's default listen backlog is 5: a client opening more connections at
# once than that has SYNs dropped and retried after a second. Web servers use 511.
http.server.ThreadingHTTPServer.request_queue_size = 511
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
