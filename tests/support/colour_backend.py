"""One colour of an app behind a reverse proxy, for the proxy tests.

Usage: colour_backend.py PORT STATE_FILE COLOUR

Serves, on 127.0.0.1:PORT:
  GET /api/system/status  -> {"colour": ..., "build": {"digest": ...}} with the
                             state's "status" (200 unless told otherwise);
                             "flap": true answers 500 two seconds in three
  GET /anything-else      -> 200 "COLOUR DIGEST"
STATE_FILE is JSON {"digest": "sha256:…", "status": 200, "flap": false,
"fail_all": false} ("fail_all": every other path answers 500), read
on every request, so a deploy (or a test) changes the colour by writing it.
"""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, STATE, COLOUR = int(sys.argv[1]), sys.argv[2], sys.argv[3]


def state():
    try:
        with open(STATE) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"digest": None, "status": 503}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without this, Nagle's algorithm
    # and delayed ACKs hold every keep-alive answer for 40 ms.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_GET(self):
        s = state()
        if self.path.startswith("/api/system/status"):
            status = int(s.get("status", 200))
            if s.get("flap") and int(time.time()) % 3 != 0:
                status = 500
            body = json.dumps({"colour": COLOUR, "build": {"digest": s.get("digest")}}).encode()
            ctype = "application/json"
        else:
            # "fail_all": the app fails while its status path still answers.
            status = 500 if s.get("fail_all") else 200
            body = f"{COLOUR} {s.get('digest')}\n".encode()
            ctype = "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that hung up is not news


server = Server(("127.0.0.1", PORT), Handler)
print("ready", flush=True)
server.serve_forever()
