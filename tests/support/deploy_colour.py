"""The deploy command of the proxy tests: "deploys" DIGEST to COLOUR by
writing the colour's state file (what docker compose or systemctl would do).

Usage: deploy_colour.py STATE_DIR COLOUR DIGEST
Keeps the state's other fields (a test may have made the colour fail).
Exits 1 when STATE_DIR/fail-deploy exists.
"""
import json
import os
import sys

state_dir, colour, digest = sys.argv[1], sys.argv[2], sys.argv[3]
print(f"pulling image {digest} for {colour}", flush=True)
# A credential in a URL, as deploy tools print them: shipdeck must redact it.
print("from https://deployer:hunter2@registry.example.com/v2/", flush=True)
if os.path.exists(os.path.join(state_dir, "fail-deploy")):
    print("error: image pull failed", file=sys.stderr, flush=True)
    sys.exit(1)
path = os.path.join(state_dir, f"{colour}.json")
try:
    with open(path) as f:
        s = json.load(f)
except (OSError, ValueError):
    s = {}
s["digest"] = digest
tmp = path + ".tmp"
with open(tmp, "w") as f:
    json.dump(s, f)
os.replace(tmp, path)
print(f"{colour} restarted with {digest}", flush=True)
