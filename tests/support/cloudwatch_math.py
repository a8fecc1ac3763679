"""A small stand-in for CloudWatch metric math in front of LocalStack.

LocalStack 4.13 answers GetMetricData only for MetricStat queries (an Expression
query fails inside it), and moto evaluates an expression only when it is a bare
query id. This proxy, started by the tests on 127.0.0.1, forwards every request
to LocalStack unchanged, except GetMetricData calls with expressions: their
MetricStat queries go to LocalStack, and each expression (arithmetic with + - * /,
parentheses, numbers and query ids, as in CloudWatch's metric math) is computed
over the timestamps its inputs share, as CloudWatch documents. Shaped after the
GetMetricData reference: results carry Id, Label, Timestamps, Values and
StatusCode; queries with ReturnData false are left out of the answer.

Usage: python cloudwatch_math.py UPSTREAM_URL PORT
"""

import ast
import http.server
import sys
import urllib.error
import urllib.request
from datetime import timezone

import cbor2

UPSTREAM = sys.argv[1].rstrip("/")
SKIP = {"host", "content-length", "connection", "accept-encoding"}


def encode(obj):
    return cbor2.dumps(obj, datetime_as_timestamp=True, timezone=timezone.utc)


def evaluate(expression, series):
    """Values per timestamp of `expression` over `series` ({id: {ts: value}})."""
    tree = ast.parse(expression, mode="eval")
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    for node in ast.walk(tree):
        if not isinstance(
            node,
            (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Load,
             ast.Add, ast.Sub, ast.Mult, ast.Div, ast.USub, ast.UAdd),
        ):
            raise ValueError(f"unsupported in this stand-in: {type(node).__name__}")
    missing = [n for n in names if n not in series]
    if missing:
        raise ValueError(f"unknown id(s): {', '.join(sorted(missing))}")
    stamps = None
    for n in names:
        s = set(series[n])
        stamps = s if stamps is None else stamps & s
    stamps = sorted(stamps or [], reverse=True)

    def value(node, at):
        if isinstance(node, ast.Expression):
            return value(node.body, at)
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            return float(series[node.id][at])
        if isinstance(node, ast.UnaryOp):
            v = value(node.operand, at)
            return -v if isinstance(node.op, ast.USub) else v
        a, b = value(node.left, at), value(node.right, at)
        if isinstance(node.op, ast.Add):
            return a + b
        if isinstance(node.op, ast.Sub):
            return a - b
        if isinstance(node.op, ast.Mult):
            return a * b
        return a / b

    out_t, out_v = [], []
    for at in stamps:
        try:
            out_v.append(value(tree, at))
            out_t.append(at)
        except ZeroDivisionError:
            continue  # CloudWatch leaves such a point out
    return out_t, out_v


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def forward(self, body):
        headers = {k: v for k, v in self.headers.items() if k.lower() not in SKIP}
        req = urllib.request.Request(UPSTREAM + self.path, data=body, headers=headers,
                                     method=self.command)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, dict(r.headers.items()), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers.items()), e.read()

    def reply(self, status, headers, body):
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "date",
                                 "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.reply(*self.forward(None))

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self.path.endswith("/operation/GetMetricData"):
            return self.reply(*self.forward(body))
        req = cbor2.loads(body)
        queries = req.get("MetricDataQueries", [])
        exprs = [q for q in queries if "Expression" in q]
        if not exprs:
            return self.reply(*self.forward(body))
        stats = [dict(q, ReturnData=True) for q in queries if "MetricStat" in q]
        answer = {"MetricDataResults": [], "Messages": []}
        if stats:
            status, headers, raw = self.forward(encode(dict(req, MetricDataQueries=stats)))
            if status != 200:
                return self.reply(status, headers, raw)
            answer = cbor2.loads(raw)
        results = answer.get("MetricDataResults", [])
        series = {
            r["Id"]: dict(zip(r.get("Timestamps", []), r.get("Values", []))) for r in results
        }
        wanted = {q["Id"] for q in queries if q.get("ReturnData", True)}
        out = [r for r in results if r["Id"] in wanted]
        for q in exprs:
            try:
                ts, vs = evaluate(q["Expression"], series)
                r = {"Id": q["Id"], "Label": q.get("Label", q["Id"]), "Timestamps": ts,
                     "Values": vs, "StatusCode": "Complete"}
            except (ValueError, SyntaxError) as e:
                r = {"Id": q["Id"], "Label": q.get("Label", q["Id"]), "Timestamps": [],
                     "Values": [], "StatusCode": "InternalError",
                     "Messages": [{"Code": "InternalError", "Value": str(e)}]}
            series[q["Id"]] = dict(zip(r["Timestamps"], r["Values"]))
            if q.get("ReturnData", True):
                out.append(r)
        answer["MetricDataResults"] = out
        self.reply(200, {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"},
                   encode(answer))


server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler)
server.serve_forever()
