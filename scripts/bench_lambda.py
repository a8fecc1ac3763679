"""Benchmark of `shipdeck status` reading N Lambda functions in one environment.

Starts moto (Lambda) and LocalStack (CloudWatch: moto 5.2.1 does not answer
the SDK's CloudWatch protocol) on free 127.0.0.1 ports, creates N zip
functions with an alias (tests/support/lambda_fixture.py zip-functions) and
one CloudWatch alarm per function (set OK), writes one environment of N
`platform = "lambda"` services, then runs `status --json` cold (empty cache
dir) and warm (the same cache dir). Each run's requests are counted from the
emulators' own request logs, by API operation, and put beside the physical
floor of a reading: one ListFunctions page per 50 functions plus one GetAlias
per function (CloudWatch's DescribeAlarms, 100 names a call, are counted
apart). Prints wall time and peak RSS, and checks every cell's digest,
revision and alarm state against what was created.

Run through scripts/bench-lambda.sh, which installs the emulators first.
BENCH_KEEP=1 keeps the work directory (moto's log, the config, the cache).
Usage: bench_lambda.py N BINARY
"""

import collections
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import boto3

# The emulator and environment helpers of the fleet benchmark, beside this file.
from bench_status import bench_env, free_port, start, stop, wait_ready

PREFIX = "bench"
ALIAS = "live"
ENV = "prod"
FIXTURE = os.path.join("tests", "support", "lambda_fixture.py")

# moto's request log line: "GET /2015-03-31/functions/bench-1/aliases/live HTTP/1.1" 200
REQUEST = re.compile(r'"(GET|POST|PUT|DELETE|HEAD) (\S+) HTTP/[0-9.]+" (\d{3})')
# LocalStack's: "localstack.request.aws : AWS cloudwatch.DescribeAlarms => 200"
LOCALSTACK = re.compile(r"AWS (\w+)\.(\w+) => (\d{3})")


def start_moto(venv_bin, work):
    port = free_port()
    proc, log = start([os.path.join(venv_bin, "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                      {"MOTO_LAMBDA_STUB_ECR": "false"}, "moto", work)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/moto-api/", lambda b: True, proc, "moto", log)
    return proc, url, log


def start_localstack(venv_bin, work):
    """LocalStack for CloudWatch: moto 5.2.1 does not answer the SDK's CloudWatch protocol."""
    port = free_port()
    env = {
        "GATEWAY_LISTEN": f"127.0.0.1:{port}", "SERVICES": "cloudwatch",
        "DNS_ADDRESS": "0", "SKIP_SSL_CERT_DOWNLOAD": "1", "DISABLE_EVENTS": "1",
        "FILESYSTEM_ROOT": os.path.join(work, "fs"), "TMPDIR": work,
    }
    proc, log = start([os.path.join(venv_bin, "python"), "-m", "localstack.runtime.main"],
                      env, "localstack", work)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/_localstack/health", lambda b: '"cloudwatch"' in b, proc, "localstack", log)
    return proc, url, log


def seed(n, url, cw_url, venv_bin):
    out = subprocess.run(
        [os.path.join(venv_bin, "python"), FIXTURE, url, "zip-functions", PREFIX, str(n), ALIAS],
        capture_output=True, check=False,
    )
    if out.returncode != 0:
        sys.exit(f"fixture failed: {out.stderr.decode()}")
    digest = json.loads(out.stdout)["digest"]
    cw = boto3.client("cloudwatch", endpoint_url=cw_url, region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    for i in range(1, n + 1):
        cw.put_metric_alarm(
            AlarmName=f"{PREFIX}-{i}-errors", Namespace="AWS/Lambda", MetricName="Errors",
            Dimensions=[{"Name": "FunctionName", "Value": f"{PREFIX}-{i}"}],
            Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0,
            ComparisonOperator="GreaterThanThreshold", TreatMissingData="notBreaching",
        )
        cw.set_alarm_state(AlarmName=f"{PREFIX}-{i}-errors", StateValue="OK", StateReason="seeded")
    return digest


def config_text(n, url, cw_url):
    lines = [
        'refresh_interval = "5s"', "", "[[environment]]", f'name = "{ENV}"',
        'platform = "lambda"', "[environment.aws]", 'region = "us-east-1"',
        f'endpoint_url = "{url}"', f'endpoints = {{ cloudwatch = "{cw_url}" }}',
        "[environment.lambda]", 'steps = ["10% 1m", "100%"]',
    ]
    for i in range(1, n + 1):
        lines += [
            "", "[[environment.service]]", f'name = "fn{i}"', f'alarms = ["{PREFIX}-{i}-errors"]',
            "[environment.service.lambda]", f'function = "{PREFIX}-{i}"', f'alias = "{ALIAS}"',
        ]
    return "\n".join(lines) + "\n"


def operation(method, path):
    """The API operation of one request moto logged."""
    path = path.split("?")[0]
    if path.startswith("/2015-03-31/functions"):
        parts = [p for p in path.split("/") if p][2:]
        if not parts:
            return "lambda:ListFunctions"
        if len(parts) >= 3 and parts[1] == "aliases":
            return {"GET": "lambda:GetAlias", "PUT": "lambda:UpdateAlias"}.get(method, f"lambda:{method} alias")
        if len(parts) >= 2 and parts[1] == "configuration":
            return "lambda:GetFunctionConfiguration"
        if len(parts) >= 2 and parts[1] == "versions":
            return "lambda:" + ("ListVersionsByFunction" if method == "GET" else "PublishVersion")
        if len(parts) == 1 and method == "GET":
            return "lambda:GetFunction"
        return f"lambda:{method} {'/'.join(parts[1:]) or 'function'}"
    rpc = re.match(r"/service/GraniteServiceVersion20100801/operation/(\w+)", path)
    if rpc:
        return f"cloudwatch:{rpc.group(1)}"
    if path.startswith("/2015-03-31/") or path.startswith("/2017-"):
        return f"lambda:{method} {path}"
    return f"{method} {path}"  # a query-protocol API (STS, CloudWatch's old one)


def read_from(log, offset):
    with open(log, errors="replace") as f:
        f.seek(offset)
        return f.read()


def requests_since(logs, offsets):
    """Requests per operation in moto's log and LocalStack's since `offsets`."""
    ops = collections.Counter()
    for m in REQUEST.finditer(read_from(logs[0], offsets[0])):
        ops[operation(m.group(1), m.group(2))] += 1
    for m in LOCALSTACK.finditer(read_from(logs[1], offsets[1])):
        ops[f"{m.group(1)}:{m.group(2)}"] += 1
    return ops


def run_status(binary, config, home, logs):
    offsets = [os.path.getsize(log) for log in logs]
    timing = os.path.join(home, "time.txt")
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%U %S %M", "-o", timing, binary, "--config", config,
         "status", "--json"],
        env=bench_env(home), capture_output=True, timeout=900,
    )
    wall = time.perf_counter() - t0
    user, system, rss_kib = open(timing).read().strip().splitlines()[-1].split()
    if proc.returncode not in (0, 1, 3):
        sys.exit(f"status failed ({proc.returncode}):\n{proc.stderr.decode()[-3000:]}")
    time.sleep(0.5)  # moto writes its log line after the answer
    return (json.loads(proc.stdout), wall, float(user) + float(system), int(rss_kib),
            proc.stderr.decode(), requests_since(logs, offsets))


def check(report, n, digest):
    wrong = []
    cells = 0
    for svc in report["services"]:
        for cell in svc["cells"]:
            cells += 1
            alarms = (cell.get("alarms") or {}).get("state")
            if (cell.get("digest") != digest or alarms != "ok"
                    or cell.get("revision") != f"{PREFIX}-{svc['name'][2:]}:1"):
                wrong.append(f"{svc['name']}: {cell.get('digest')} {cell.get('revision')} "
                             f"alarms {alarms}")
    if cells != n:
        wrong.append(f"{cells} cells, {n} functions")
    return wrong


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    binary = sys.argv[2] if len(sys.argv) > 2 else "target/release/shipdeck"
    venv_bin = os.path.join(os.getcwd(), ".venv", "bin")
    work = tempfile.mkdtemp(prefix="shipdeck-bench-lambda-")
    procs = []
    try:
        moto, url, log = start_moto(venv_bin, work)
        procs.append(moto)
        localstack, cw_url, cw_log = start_localstack(venv_bin, work)
        procs.append(localstack)
        t0 = time.perf_counter()
        digest = seed(n, url, cw_url, venv_bin)
        print(f"seeded {n} zip functions (version 1, alias {ALIAS}) in moto and {n} alarms "
              f"in LocalStack in {time.perf_counter() - t0:.1f} s; binary {binary}")
        config = os.path.join(work, "shipdeck.toml")
        with open(config, "w") as f:
            f.write(config_text(n, url, cw_url))
        home = os.path.join(work, "home")
        os.makedirs(home)
        pages = math.ceil(n / 50)
        floor = pages + n
        print(f"physical floor of one reading on AWS: {pages} ListFunctions (50 a page) + "
              f"{n} GetAlias = {floor} Lambda requests")
        print(f"moto does not page ListFunctions (one page whatever MaxItems says): "
              f"its floor is 1 + {n} = {1 + n}")
        ok = True
        for run in ["cold", "warm"]:
            report, wall, cpu, rss, stderr, ops = run_status(binary, config, home, [log, cw_log])
            lam = sum(v for k, v in ops.items() if k.startswith("lambda:"))
            other = sum(v for k, v in ops.items() if not k.startswith("lambda:"))
            print(f"{run}: wall {wall:.2f} s, cpu {cpu:.2f} s, peak RSS {rss / 1024:.1f} MB, "
                  f"requests {sum(ops.values())} (Lambda {lam}, floor on moto {1 + n}; "
                  f"CloudWatch {other})")
            for op, count in sorted(ops.items()):
                print(f"    {op:<40} {count:>6}")
            wrong = check(report, n, digest)
            print(f"    cells checked: {n}, wrong: {len(wrong)}")
            for w in wrong[:10]:
                print(f"    ! {w}")
            if stderr.strip():
                print("    stderr: " + stderr.strip()[-2000:].replace("\n", "\n            "))
            ok = ok and not wrong
        cache = os.path.join(home, "cache", "shipdeck", "lambda-versions.json")
        if os.path.isfile(cache):
            with open(cache) as f:
                entries = len(json.load(f).get("entries", []))
            print(f"version cache: {cache}, {os.path.getsize(cache)} bytes, {entries} versions")
        else:
            print("version cache: not written")
        sys.exit(0 if ok else 1)
    finally:
        for p in procs:
            stop(p)
        if os.environ.get("BENCH_KEEP"):
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
