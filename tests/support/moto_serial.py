"""moto's server answering one request at a time, optionally injecting faults.

moto_server always serves requests on threads, and its DynamoDB backend does
not lock around a condition check and the write it guards: two concurrent
conditional puts of the same key can both succeed there, which DynamoDB
never allows. The team-mode tests race writers against the table on purpose,
so they run moto like this, one request at a time, which gives each
conditional write the atomicity the real service promises.

With SHIPDECK_FAULTS="throttle=3,conflict=4,lost=5" it also injects faults
into DynamoDB's TransactWriteItems and PutItem calls, counted per operation:
every 3rd is answered ProvisionedThroughputExceededException and every 4th
TransactWriteItems TransactionCanceledException [TransactionConflict], both
without applying it; every 5th is applied and then answered 500
InternalServerError, as when an answer is lost on the way back. The shapes are the DynamoDB API reference's JSON errors.
GET /__faults returns how many of each were injected; GET /__requests how
many DynamoDB requests of each operation arrived (counted always).

Usage: python moto_serial.py PORT
"""

import json
import os
import sys

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

PREFIX = "com.amazonaws.dynamodb.v20120810#"


def parse_faults(text):
    plan = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, every = part.partition("=")
        plan[name] = int(every)
    return plan


class Faults:
    def __init__(self, app, plan):
        self.app = app
        self.plan = plan
        self.seen = {}
        self.requests = {}
        self.injected = {"throttle": 0, "conflict": 0, "lost": 0}

    def error(self, start_response, status, body):
        data = json.dumps(body).encode()
        start_response(
            status,
            [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(data)))],
        )
        return [data]

    def inject(self, start_response, kind, status, body):
        """Answers with an injected fault, counted by kind."""
        self.injected[kind] += 1
        return self.error(start_response, status, body)

    def hits(self, name, n):
        every = self.plan.get(name, 0)
        return every > 0 and n % every == 0

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/__faults":
            return self.error(start_response, "200 OK", self.injected)
        if environ.get("PATH_INFO") == "/__requests":
            return self.error(start_response, "200 OK", self.requests)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        op = target.rpartition(".")[2]
        if op:
            self.requests[op] = self.requests.get(op, 0) + 1
        if not self.plan or op not in ("TransactWriteItems", "PutItem"):
            return self.app(environ, start_response)
        n = self.seen.get(op, 0) + 1
        self.seen[op] = n
        if self.hits("lost", n):
            # Applied, then the answer is lost.
            b"".join(self.app(environ, lambda *a, **k: None))
            return self.inject(start_response, "lost", "500 Internal Server Error", {
                "__type": PREFIX + "InternalServerError", "message": "injected: answer lost"})
        if self.hits("throttle", n):
            return self.inject(start_response, "throttle", "400 Bad Request", {
                "__type": PREFIX + "ProvisionedThroughputExceededException",
                "message": "The level of configured provisioned throughput for the table was exceeded.",
            })
        if op == "TransactWriteItems" and self.hits("conflict", n):
            return self.inject(start_response, "conflict", "400 Bad Request", {
                "__type": PREFIX + "TransactionCanceledException",
                "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]",
                "CancellationReasons": [
                    {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
                ],
            })
        return self.app(environ, start_response)


port = int(sys.argv[1])
os.environ.setdefault("MOTO_PORT", str(port))
app = DomainDispatcherApplication(create_backend_app)
app = Faults(app, parse_faults(os.environ.get("SHIPDECK_FAULTS", "")))
run_simple("127.0.0.1", port, app, threaded=False, use_reloader=False)
