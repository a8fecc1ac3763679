"""The Argo CD + Argo Rollouts half of the Kubernetes API stub (kube_api.py
starts it as threads in the same process; it is not a program of its own).

Controller config (`--controller FILE` or `POST /_stub/controller`): a JSON
list of apps, each
  {"application": "shop",            Argo CD Application name
   "argocd_namespace": "argocd",     its namespace (default "argocd")
   "namespace": "shop",              the workload's namespace
   "kind": "Rollout",                or "Deployment"
   "name": "shop",                   the workload's name
   "container": "app",               the container whose image is set
   "image": "registry.example.com/shop",   repository, no tag/digest
   "repo": "/tmp/gitops.git",        a bare git repository (read with real git)
   "branch": "main",
   "path": "apps/shop/kustomization.yaml",
   "digest": {"kustomize": {"image": "registry.example.com/shop"}}
          or {"helm": {"path": "image.digest", "value": "digest" | "reference"}},
   "step_seconds": 1,                per Rollout step (default 1)
   "replicas": 5,                    only when the workload must be created
   "strategy": {...},                spec.strategy when the workload must be
                                     created (default canary: setWeight 20,
                                     pause {}, setWeight 50, pause 30s, analysis)
   "repo_url": "..."}                Application spec.source.repoURL (default: repo)
A missing Application is created when the app is configured; a missing
workload is created at the first sync (as Argo CD applies it).

Argo CD (a thread, every 0.2 s per app, or at once on the annotation
`argocd.argoproj.io/refresh`, removed after): `git --git-dir REPO rev-parse
--verify refs/heads/BRANCH`; on a new commit `git show COMMIT:PATH`, the
digest found (kustomize: the `images:` entry with that `name:`, its
`digest:`; helm: the dotted key, a `sha256:<64 hex>` or `repo@sha256:…`);
if it differs from the workload's image: sync OutOfSync at that revision,
operationState Running, the image written to the pod template (generation
bumped), then 0.2 s later operationState Succeeded (syncResult.revision,
finishedAt), sync Synced, a history entry. The same digest: Synced at the new
revision with no operation. An unreadable file or value: sync `Unknown`, a
`ComparisonError` condition naming the problem, the workload untouched.
status.health mirrors the workload (Rollout phase Healthy/Progressing/
Degraded, Paused -> Suspended; Deployment Healthy/Progressing; Missing).

Argo Rollouts (a thread, 50 ms ticks for Rollouts/Deployments that changed or
are mid-rollout): pod-template hash = first 10 hex of sha256 of the images.
Canary steps: setWeight (weights + ReplicaSet scale, step_seconds), pause {}
(CanaryPauseStep pause condition, controllerPause, phase Paused, until the
condition is gone and spec.paused is not true), pause {duration} (the same,
but it ends by itself after step_seconds whatever the duration), analysis
(Running for step_seconds, then the result set by /_stub/analysis:
Successful by default; Failed/Error aborts with Argo's message;
Inconclusive pauses with InconclusiveAnalysisRun), other steps take
step_seconds. status.abort -> canary scaled to 0, weights 100 % stable,
Degraded `RolloutAborted: Rollout aborted update to revision N`; clearing
status.abort (retry) restarts the steps. status.promoteFull skips to the end.
A currentStepIndex patched by `promote` is followed. The first revision and a
template equal to stableRS go straight to Healthy (abort cleared). Blue/green:
preview RS at full scale, activeSelector switched after step_seconds (or,
with autoPromotionEnabled false, after a promote of the BlueGreenPause).
Deployments: new RS, then after step_seconds scaled up, old ones to 0.
Pods follow every ReplicaSet's replicas (Running, ready, containerStatuses
with image and imageID). Events (core/v1) on each transition, aggregated.

Not done (real Argo does): no AnalysisRun/Experiment objects, no traffic
routers or Services, no maxSurge/maxUnavailable arithmetic (canary replicas =
ceil(weight * replicas / 100), stable the rest), pods ready at once, no
progressDeadline, no scaleDownDelay, no rollback window, no HPA, no
workloadRef; Argo CD does not render kustomize/helm, diff or prune anything:
it reads one digest from one file.
"""
import copy
import hashlib
import json
import math
import re
import subprocess
import threading
import time

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
DEFAULT_STEPS = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "30s"}},
                 {"analysis": {"templates": [{"templateName": "success-rate"}]}}]
REQUIRED = ("application", "namespace", "kind", "name", "container", "image", "repo", "branch", "path", "digest")


# ---------------------------------------------------------------- YAML bits

def _scalar(v):
    v = v.strip()
    if v and v[0] not in "\"'":
        v = re.sub(r"\s+#.*$", "", v)
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        v = v[1:-1]
    return v


def kustomize_digest(text, image):
    """The `digest:` of the `images:` entry named `image`, or raise ValueError."""
    items, cur, in_images, dash_indent = [], None, False, None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        stripped = line.strip()
        if indent == 0 and not stripped.startswith("-"):
            in_images = re.match(r"^images\s*:\s*$", stripped) is not None
            cur = None
            continue
        if not in_images:
            continue
        m = re.match(r"^-\s+([A-Za-z0-9_]+)\s*:\s*(.*)$", stripped)
        if m:
            cur = {m.group(1): _scalar(m.group(2))}
            items.append(cur)
            dash_indent = indent
            continue
        m = re.match(r"^([A-Za-z0-9_]+)\s*:\s*(.*)$", stripped)
        if m and cur is not None and indent > (dash_indent or 0):
            cur[m.group(1)] = _scalar(m.group(2))
    for it in items:
        if it.get("name") == image:
            if "digest" not in it:
                raise ValueError(f"images[name={image}] has no digest")
            return it["digest"]
    raise ValueError(f"no images entry with name {image!r}")


def helm_value(text, path):
    """The scalar at a dotted key path of a YAML mapping, or raise ValueError."""
    want = path.split(".")
    stack = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.match(r"^(\s*)([A-Za-z0-9_.-]+|\"[^\"]*\"|'[^']*')\s*:(?:\s+(.*)|\s*)$", line)
        if not m:
            continue
        indent = len(m.group(1))
        key = _scalar(m.group(2))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key))
        if [k for _, k in stack] == want:
            v = _scalar(m.group(3) or "")
            if not v:
                raise ValueError(f"{path} has no scalar value")
            return v
    raise ValueError(f"no key {path!r}")


def find_digest(text, how):
    if "kustomize" in how:
        d = kustomize_digest(text, how["kustomize"]["image"])
    else:
        h = how["helm"]
        v = helm_value(text, h["path"])
        d = v.rsplit("@", 1)[1] if h.get("value") == "reference" and "@" in v else v
        if h.get("value") == "reference" and "@" not in v:
            raise ValueError(f"{h['path']} is {v!r}, not an image reference with a digest")
    if not DIGEST_RE.match(d):
        raise ValueError(f"{d!r} is not a sha256 digest")
    return d


def parse_duration(d):
    if d is None:
        return None
    if isinstance(d, (int, float)):
        return float(d)
    m = re.match(r"^(\d+)(s|m|h)?$", str(d))
    if not m:
        return 0.0
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


def step_string(step):
    if "setWeight" in step:
        return f"setWeight: {step['setWeight']}"
    if "pause" in step:
        d = (step.get("pause") or {}).get("duration")
        return "pause" if d is None else f"pause: {d}"
    for k in ("experiment", "analysis"):
        if k in step:
            return k
    return "invalid"


def git(repo, *args):
    try:
        p = subprocess.run(["git", "--git-dir", repo, *args], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, str(e)
    if p.returncode != 0:
        return None, p.stderr.decode("utf-8", "replace").strip()
    return p.stdout.decode("utf-8", "replace"), None


# ---------------------------------------------------------------- controller

class Controller:
    def __init__(self, store, api_error, step_seconds, image_hash, now_iso):
        self.store = store
        self.ApiError = api_error
        self.step_seconds = step_seconds
        self.image_hash = image_hash
        self.now_iso = now_iso
        self.apps = {}        # application name -> config
        self.app_state = {}   # application name -> {"revision", "error", "pending"}
        self.wl_state = {}    # (plural, ns, name) -> {"key", "started"}
        self.active = set()   # (plural, ns, name) mid-rollout
        self.event_names = {}  # (uid, reason, message) -> (ns, event name)
        self.event_seq = 0

    # -- config
    def configure(self, apps):
        if not isinstance(apps, list):
            raise self.ApiError(422, "Invalid", "the controller config is a JSON list of apps")
        names = []
        for a in apps:
            if not isinstance(a, dict):
                raise self.ApiError(422, "Invalid", "an app is a JSON object")
            missing = [k for k in REQUIRED if k not in a]
            if missing:
                raise self.ApiError(422, "Invalid", f"app {a.get('application')!r} lacks {missing}")
            if a["kind"] not in ("Rollout", "Deployment"):
                raise self.ApiError(422, "Invalid", "kind must be Rollout or Deployment")
            d = a["digest"]
            if not isinstance(d, dict) or not (("kustomize" in d and "image" in (d["kustomize"] or {}))
                                               or ("helm" in d and "path" in (d["helm"] or {}))):
                raise self.ApiError(422, "Invalid", 'digest is {"kustomize": {"image": N}} or {"helm": {"path": P, "value": "digest"|"reference"}}')
            a = dict(a)
            a.setdefault("argocd_namespace", "argocd")
            a.setdefault("step_seconds", 1.0)
            with self.store.cond:
                self.apps[a["application"]] = a
                self.app_state[a["application"]] = {"revision": None, "error": None, "pending": None}
                self.ensure_application(a)
                self.active.add((self.plural_of(a), a["namespace"], a["name"]))
            names.append(a["application"])
        return {"apps": names}

    def describe(self):
        with self.store.cond:
            return [{"config": a, "revision": self.app_state[n]["revision"], "error": self.app_state[n]["error"]}
                    for n, a in self.apps.items()]

    @staticmethod
    def plural_of(a):
        return "rollouts" if a["kind"] == "Rollout" else "deployments"

    def step_for(self, plural, ns, name):
        for a in self.apps.values():
            if self.plural_of(a) == plural and a["namespace"] == ns and a["name"] == name:
                return float(a.get("step_seconds", self.step_seconds))
        return self.step_seconds

    def start(self):
        threading.Thread(target=self.loop, args=(self.argocd_tick, 0.2), daemon=True, name="argocd").start()
        threading.Thread(target=self.loop, args=(self.rollouts_tick, 0.05), daemon=True, name="rollouts").start()

    def loop(self, fn, period):
        while True:
            t0 = time.monotonic()
            try:
                fn()
            except Exception as e:  # keep the controller alive; say why on stderr
                import sys
                import traceback
                print(f"controller error: {e}", file=sys.stderr)
                traceback.print_exc()
            time.sleep(max(0.01, period - (time.monotonic() - t0)))

    # -- events
    def emit(self, obj, etype, reason, message, component="rollouts-controller"):
        md = obj["metadata"]
        key = (md["uid"], reason, message)
        now = self.now_iso()
        st = self.store
        known = self.event_names.get(key)
        if known is not None:
            ev = st.get("events", *known)
            if ev is not None:
                ev = copy.deepcopy(ev)
                ev["count"] = ev.get("count", 1) + 1
                ev["lastTimestamp"] = now
                st.put("events", ev, by_controller=True)
                return
        self.event_seq += 1
        seed = "%s/%d" % (md["uid"], self.event_seq)
        name = md["name"] + "." + hashlib.sha256(seed.encode()).hexdigest()[:16]
        ev = {"metadata": {"name": name, "namespace": md["namespace"]},
              "involvedObject": {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": md["name"],
                                 "namespace": md["namespace"], "uid": md["uid"],
                                 "resourceVersion": md.get("resourceVersion", "")},
              "reason": reason, "message": message, "type": etype,
              "source": {"component": component}, "reportingComponent": component, "reportingInstance": "",
              "firstTimestamp": now, "lastTimestamp": now, "count": 1, "eventTime": None}
        st.put("events", ev, by_controller=True)
        self.event_names[key] = (md["namespace"], name)

    # ============================================================ Argo CD

    def ensure_application(self, a):
        if self.store.get("applications", a["argocd_namespace"], a["application"]) is not None:
            return
        path = a["path"]
        folder = path.rsplit("/", 1)[0] if "/" in path else "."
        source = {"repoURL": a.get("repo_url", a["repo"]), "targetRevision": a["branch"], "path": folder}
        if "helm" in a["digest"]:
            source["helm"] = {"valueFiles": [path.rsplit("/", 1)[-1]]}
        app = {"metadata": {"name": a["application"], "namespace": a["argocd_namespace"],
                            "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
               "spec": {"project": "default", "source": source,
                        "destination": {"server": "https://kubernetes.default.svc", "namespace": a["namespace"]},
                        "syncPolicy": {"automated": {"prune": True, "selfHeal": True}}},
               "status": {"sync": {"status": "Unknown"}, "health": {"status": "Missing"},
                          "sourceType": "Helm" if "helm" in a["digest"] else "Kustomize",
                          "controllerNamespace": a["argocd_namespace"]}}
        self.store.put("applications", app, by_controller=True)

    def argocd_tick(self):
        for name, a in list(self.apps.items()):
            self.argocd_app(name, a)

    def argocd_app(self, name, a):
        st = self.store
        state = self.app_state[name]
        with st.cond:
            app = st.get("applications", a["argocd_namespace"], name)
            if app is None:
                return
            anns = app["metadata"].get("annotations") or {}
            refresh = "argocd.argoproj.io/refresh" in anns
            if refresh:
                app = copy.deepcopy(app)
                app["metadata"]["annotations"].pop("argocd.argoproj.io/refresh", None)
                st.put("applications", app, by_controller=True)
            pending = state["pending"]
            if pending and time.monotonic() >= pending["due"]:
                self.finish_sync(a, pending)
                state["pending"] = None
        head, err = git(a["repo"], "rev-parse", "--verify", "-q", f"refs/heads/{a['branch']}")
        head = head.strip() if head else None
        if head is None:
            self.comparison_error(a, None, f"unable to resolve '{a['branch']}' to a commit SHA: {err or 'no such branch'}")
            self.mirror_health(a)
            return
        if head != state["revision"] or refresh or state["error"]:
            if state["pending"] is None or head != state["pending"]["revision"]:
                text, err = git(a["repo"], "show", f"{head}:{a['path']}")
                if text is None:
                    self.comparison_error(a, head, f"failed to read {a['path']} at {head[:7]}: {err}")
                else:
                    try:
                        digest = find_digest(text, a["digest"])
                    except (ValueError, KeyError, TypeError) as e:
                        self.comparison_error(a, head, f"{a['path']}: {e}")
                    else:
                        with st.cond:
                            self.start_sync(a, head, digest)
        self.mirror_health(a)

    def comparison_error(self, a, rev, message):
        st = self.store
        state = self.app_state[a["application"]]
        full = ("Failed to load target state: failed to generate manifest for source 1 of 1: "
                f"rpc error: code = Unknown desc = {message}")
        if state["error"] == full and state["revision"] == rev:
            return
        with st.cond:
            app = st.get("applications", a["argocd_namespace"], a["application"])
            if app is None:
                return
            app = copy.deepcopy(app)
            s = app.setdefault("status", {})
            sync = s.setdefault("sync", {})
            old = sync.get("status")
            sync["status"] = "Unknown"
            if rev:
                sync["revision"] = rev
            s["conditions"] = [{"type": "ComparisonError", "message": full, "lastTransitionTime": self.now_iso()}]
            s["reconciledAt"] = self.now_iso()
            st.put("applications", app, by_controller=True)
            state["error"], state["revision"] = full, rev
            if old != "Unknown":
                self.emit(app, "Normal", "ResourceUpdated", f"Updated sync status: {old} -> Unknown",
                          "argocd-application-controller")

    def start_sync(self, a, rev, digest):
        st = self.store
        state = self.app_state[a["application"]]
        state["error"] = None
        state["revision"] = rev
        app = copy.deepcopy(st.get("applications", a["argocd_namespace"], a["application"]))
        s = app.setdefault("status", {})
        s.pop("conditions", None)
        ref = f"{a['image']}@{digest}"
        plural = self.plural_of(a)
        wl = st.get(plural, a["namespace"], a["name"])
        current = None
        if wl is not None:
            for c in (((wl.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []:
                if c.get("name") == a["container"]:
                    current = c.get("image")
        sync = s.setdefault("sync", {})
        old_sync = sync.get("status")
        sync["revision"] = rev
        sync["comparedTo"] = {"source": app["spec"].get("source"), "destination": app["spec"].get("destination")}
        s["reconciledAt"] = self.now_iso()
        s["summary"] = {"images": [ref]}
        if current == ref:
            sync["status"] = "Synced"
            st.put("applications", app, by_controller=True)
            if old_sync != "Synced":
                self.emit(app, "Normal", "ResourceUpdated", f"Updated sync status: {old_sync} -> Synced",
                          "argocd-application-controller")
            return
        sync["status"] = "OutOfSync"
        started = self.now_iso()
        s["operationState"] = {
            "operation": {"sync": {"revision": rev, "prune": True}, "initiatedBy": {"automated": True},
                          "retry": {"limit": 5}},
            "phase": "Running", "message": "one or more tasks are running", "startedAt": started}
        st.put("applications", app, by_controller=True)
        if old_sync != "OutOfSync":
            self.emit(app, "Normal", "ResourceUpdated", f"Updated sync status: {old_sync} -> OutOfSync",
                      "argocd-application-controller")
        self.emit(app, "Normal", "OperationStarted", f"Initiated automated sync to '{rev}'",
                  "argocd-application-controller")
        # apply: the workload's pod template gets the image
        if wl is None:
            wl = self.new_workload(a, ref)
        else:
            wl = copy.deepcopy(wl)
            found = False
            for c in wl["spec"]["template"]["spec"]["containers"]:
                if c.get("name") == a["container"]:
                    c["image"] = ref
                    found = True
            if not found:
                wl["spec"]["template"]["spec"]["containers"].append({"name": a["container"], "image": ref})
        st.put(plural, wl)  # not by_controller: the rollouts controller sees it as a change
        self.app_state[a["application"]]["pending"] = {"revision": rev, "started": started, "ref": ref,
                                                        "due": time.monotonic() + 0.2}

    def new_workload(self, a, ref):
        labels = {"app.kubernetes.io/name": a["name"]}
        kind = a["kind"]
        spec = {"replicas": int(a.get("replicas", 5)), "selector": {"matchLabels": dict(labels)},
                "revisionHistoryLimit": 10,
                "template": {"metadata": {"labels": dict(labels)},
                             "spec": {"containers": [{"name": a["container"], "image": ref,
                                                      "ports": [{"containerPort": 8080}]}]}}}
        if kind == "Rollout":
            spec["strategy"] = copy.deepcopy(a.get("strategy") or {"canary": {"steps": DEFAULT_STEPS}})
        else:
            spec["strategy"] = {"type": "RollingUpdate",
                                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
        return {"apiVersion": "argoproj.io/v1alpha1" if kind == "Rollout" else "apps/v1", "kind": kind,
                "metadata": {"name": a["name"], "namespace": a["namespace"], "labels": dict(labels),
                             "annotations": {}},
                "spec": spec}

    def finish_sync(self, a, pending):
        st = self.store
        app = st.get("applications", a["argocd_namespace"], a["application"])
        if app is None:
            return
        app = copy.deepcopy(app)
        s = app.setdefault("status", {})
        rev = pending["revision"]
        fin = self.now_iso()
        src = app["spec"].get("source")
        plural = self.plural_of(a)
        group = "argoproj.io" if plural == "rollouts" else "apps"
        s["operationState"] = dict(s.get("operationState") or {}, phase="Succeeded",
                                   message="successfully synced (all tasks run)", finishedAt=fin,
                                   syncResult={"revision": rev, "source": src, "resources": [{
                                       "group": group, "version": "v1alpha1" if plural == "rollouts" else "v1",
                                       "kind": a["kind"], "namespace": a["namespace"], "name": a["name"],
                                       "status": "Synced", "message": f"{a['kind'].lower()}.{group}/{a['name']} configured",
                                       "hookPhase": "Running", "syncPhase": "Sync"}]})
        old = s.get("sync", {}).get("status")
        s.setdefault("sync", {})["status"] = "Synced"
        s["sync"]["revision"] = rev
        hist = list(s.get("history") or [])
        hist.append({"id": (hist[-1]["id"] + 1) if hist else 0, "revision": rev, "deployedAt": fin,
                     "deployStartedAt": pending["started"], "source": src, "initiatedBy": {"automated": True}})
        s["history"] = hist[-10:]
        st.put("applications", app, by_controller=True)
        self.emit(app, "Normal", "OperationCompleted", f"Sync operation to {rev} succeeded",
                  "argocd-application-controller")
        if old != "Synced":
            self.emit(app, "Normal", "ResourceUpdated", f"Updated sync status: {old} -> Synced",
                      "argocd-application-controller")

    def mirror_health(self, a):
        st = self.store
        with st.cond:
            app = st.get("applications", a["argocd_namespace"], a["application"])
            if app is None:
                return
            wl = st.get(self.plural_of(a), a["namespace"], a["name"])
            msg = None
            if wl is None:
                h = "Missing"
            elif a["kind"] == "Rollout":
                ws = wl.get("status") or {}
                phase = ws.get("phase")
                if str(ws.get("observedGeneration")) != str(wl["metadata"].get("generation")):
                    h, msg = "Progressing", "Waiting for rollout spec update to be observed"
                elif phase == "Paused":
                    h, msg = "Suspended", "Rollout is paused"
                else:
                    h = {"Healthy": "Healthy", "Degraded": "Degraded", "Progressing": "Progressing"}.get(phase, "Progressing")
                    msg = ws.get("message") or None
            else:
                ws = wl.get("status") or {}
                want = (wl.get("spec") or {}).get("replicas", 1)
                if (ws.get("observedGeneration") == wl["metadata"].get("generation")
                        and ws.get("updatedReplicas") == want and ws.get("availableReplicas") == want
                        and ws.get("replicas") == want):
                    h = "Healthy"
                else:
                    h, msg = "Progressing", f'Waiting for rollout to finish: {ws.get("updatedReplicas", 0)} of {want} updated replicas are available...'
            cur = (app.get("status") or {}).get("health") or {}
            if cur.get("status") == h and cur.get("message") == msg:
                return
            app = copy.deepcopy(app)
            health = {"status": h, "lastTransitionTime": self.now_iso()}
            if msg:
                health["message"] = msg
            app.setdefault("status", {})["health"] = health
            st.put("applications", app, by_controller=True)
            if cur.get("status") != h:
                self.emit(app, "Normal", "ResourceUpdated", f"Updated health status: {cur.get('status')} -> {h}",
                          "argocd-application-controller")

    # ============================================================ Argo Rollouts

    def rollouts_tick(self):
        st = self.store
        with st.cond:
            keys = {k for k in st.dirty if k[0] in ("rollouts", "deployments")} | set(self.active)
            st.dirty.clear()
        for k in sorted(keys):
            with st.cond:  # one object at a time: API requests get in between
                plural, ns, name = k
                if plural == "rollouts":
                    busy = self.reconcile_rollout(ns, name)
                else:
                    busy = self.reconcile_deployment(ns, name)
                if busy:
                    self.active.add(k)
                else:
                    self.active.discard(k)
                for a in self.apps.values():  # Argo CD's health follows at once
                    if (self.plural_of(a), a["namespace"], a["name"]) == k:
                        self.mirror_health(a)

    # -- ReplicaSets and pods
    def owned_rs(self, ns, owner_kind, owner_name):
        return self.store.owned_by("replicasets", ns, owner_kind, owner_name)

    @staticmethod
    def images_of(template):
        return [c.get("image", "") for c in ((template or {}).get("spec") or {}).get("containers") or []]

    def ensure_rs(self, owner, h, hash_label, revision, rev_annotation, replicas):
        st = self.store
        md = owner["metadata"]
        name = f"{md['name']}-{h}"
        rs = st.get("replicasets", md["namespace"], name)
        tmpl = copy.deepcopy(owner["spec"]["template"])
        labels = dict((tmpl.get("metadata") or {}).get("labels") or {}, **{hash_label: h})
        tmpl.setdefault("metadata", {})["labels"] = labels
        if rs is None:
            rs = {"metadata": {"name": name, "namespace": md["namespace"], "labels": dict(labels),
                               "annotations": {rev_annotation: str(revision)},
                               "ownerReferences": [{"apiVersion": owner["apiVersion"], "kind": owner["kind"],
                                                    "name": md["name"], "uid": md["uid"], "controller": True,
                                                    "blockOwnerDeletion": True}]},
                  "spec": {"replicas": 0, "selector": {"matchLabels": dict(labels)}, "template": tmpl},
                  "status": {"replicas": 0, "observedGeneration": 1}}
            rs = st.put("replicasets", rs, by_controller=True)
        else:
            rs = copy.deepcopy(rs)
            rs["metadata"].setdefault("annotations", {})[rev_annotation] = str(revision)
            rs = st.put("replicasets", rs, by_controller=True)
        if replicas is not None:
            self.scale(rs, replicas)
        return name

    def scale(self, rs, n):
        st = self.store
        rs = st.get("replicasets", rs["metadata"]["namespace"], rs["metadata"]["name"])
        if rs is None:
            return
        if rs["spec"].get("replicas") != n or (rs.get("status") or {}).get("readyReplicas", 0) != n:
            rs = copy.deepcopy(rs)
            rs["spec"]["replicas"] = n
            rs = st.put("replicasets", rs, by_controller=True)
            rs = copy.deepcopy(rs)
            rs["status"] = {"replicas": n, "fullyLabeledReplicas": n, "readyReplicas": n, "availableReplicas": n,
                            "observedGeneration": rs["metadata"]["generation"]}
            if n == 0:
                rs["status"] = {"replicas": 0, "observedGeneration": rs["metadata"]["generation"]}
            rs = st.put("replicasets", rs, by_controller=True)
        self.sync_pods(rs)

    def sync_pods(self, rs):
        st = self.store
        ns, rsname = rs["metadata"]["namespace"], rs["metadata"]["name"]
        want = rs["spec"].get("replicas", 0)
        pods = st.owned_by("pods", ns, "ReplicaSet", rsname)
        for p in pods[want:]:
            st.delete("pods", ns, p["metadata"]["name"])
            st.dirty.discard(("pods", ns, p["metadata"]["name"]))
        now = self.now_iso()
        i = 0
        while len(pods) < want:
            i += 1
            suffix = hashlib.sha256(f"{rs['metadata']['uid']}/{len(pods)}/{i}".encode()).hexdigest()[:5]
            name = f"{rsname}-{suffix}"
            if st.get("pods", ns, name) is not None:
                continue
            tmpl = rs["spec"]["template"]
            containers = copy.deepcopy((tmpl.get("spec") or {}).get("containers") or [])
            statuses = []
            for c in containers:
                img = c.get("image", "")
                image_id = img if "@sha256:" in img else (
                    img.split(":")[0] + "@sha256:" + hashlib.sha256(img.encode()).hexdigest())
                statuses.append({"name": c.get("name"), "image": img, "imageID": image_id, "ready": True,
                                 "started": True, "restartCount": 0,
                                 "containerID": "containerd://" + hashlib.sha256(name.encode()).hexdigest(),
                                 "state": {"running": {"startedAt": now}}})
            pod = {"metadata": {"name": name, "namespace": ns,
                                "labels": dict((tmpl.get("metadata") or {}).get("labels") or {}),
                                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rsname,
                                                     "uid": rs["metadata"]["uid"], "controller": True,
                                                     "blockOwnerDeletion": True}]},
                   "spec": {"containers": containers, "nodeName": "stub-node-1"},
                   "status": {"phase": "Running", "podIP": f"10.0.{len(pods) % 250}.{(i * 7) % 250 + 2}",
                              "startTime": now, "qosClass": "BestEffort",
                              "conditions": [{"type": t, "status": "True", "lastTransitionTime": now}
                                             for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
                              "containerStatuses": statuses}}
            pods.append(st.put("pods", pod, by_controller=True))

    # -- conditions
    def set_cond(self, status, ctype, cstatus, reason, message):
        now = self.now_iso()
        conds = status.setdefault("conditions", [])
        for c in conds:
            if c.get("type") == ctype:
                if (c.get("status"), c.get("reason"), c.get("message")) == (cstatus, reason, message):
                    return
                if c.get("status") != cstatus:
                    c["lastTransitionTime"] = now
                c.update(status=cstatus, reason=reason, message=message, lastUpdateTime=now)
                return
        conds.append({"type": ctype, "status": cstatus, "reason": reason, "message": message,
                      "lastUpdateTime": now, "lastTransitionTime": now})

    # -- Rollouts
    def reconcile_rollout(self, ns, name):
        st = self.store
        stored = st.get("rollouts", ns, name)
        key = ("rollouts", ns, name)
        if stored is None:
            self.wl_state.pop(key, None)
            return False
        ro = copy.deepcopy(stored)
        spec = ro.get("spec") or {}
        if not isinstance((spec.get("template") or {}).get("spec"), dict):
            return False
        s = ro.setdefault("status", {})
        replicas = int(spec.get("replicas", 1))
        strategy = spec.get("strategy") or {}
        blue_green = "blueGreen" in strategy
        steps = ((strategy.get("canary") or {}).get("steps") or []) if not blue_green else []
        nsteps = len(steps)
        step_s = self.step_for("rollouts", ns, name)
        images = self.images_of(spec["template"])
        rss = self.owned_rs(ns, "Rollout", name)
        h = None
        for rs in rss:
            if self.images_of(rs["spec"].get("template")) == images:
                h = (rs["metadata"].get("labels") or {}).get("rollouts-pod-template-hash")
        if h is None and not rss and s.get("currentPodHash"):
            h = s["currentPodHash"]  # adopt a seeded status
        if h is None:
            h = self.image_hash(images)
        events = []
        now = time.monotonic()
        state = self.wl_state.setdefault(key, {"key": None, "started": now})
        s["observedGeneration"] = str(ro["metadata"].get("generation", 1))
        s["currentStepHash"] = self.image_hash([json.dumps(steps, sort_keys=True)])
        s["selector"] = ",".join(f"{k}={v}" for k, v in sorted(((spec.get("selector") or {}).get("matchLabels") or {}).items()))

        def revision_of(rs_list, hh):
            for r in rs_list:
                if (r["metadata"].get("labels") or {}).get("rollouts-pod-template-hash") == hh:
                    return int((r["metadata"].get("annotations") or {}).get("rollout.argoproj.io/revision", "0") or 0)
            return 0

        revision = int((ro["metadata"].get("annotations") or {}).get("rollout.argoproj.io/revision", "0") or 0)
        stable = s.get("stableRS")
        bg = s.setdefault("blueGreen", {}) if blue_green else None
        if not blue_green:
            s.pop("blueGreen", None)

        def rs_name(hh):
            return f"{name}-{hh}"

        def weights(canary_w, canary_h):
            s.setdefault("canary", {})["weights"] = {
                "canary": {"weight": canary_w, "podTemplateHash": canary_h},
                "stable": {"weight": 100 - canary_w, "podTemplateHash": stable or canary_h}}

        def scale_to(new_n, stable_n):
            for rs in self.owned_rs(ns, "Rollout", name):
                hh = (rs["metadata"].get("labels") or {}).get("rollouts-pod-template-hash")
                if hh == h:
                    self.scale(rs, new_n)
                elif hh == stable:
                    self.scale(rs, stable_n)
                else:
                    self.scale(rs, 0)

        def clear_pause():
            s.pop("pauseConditions", None)
            s.pop("controllerPause", None)

        def complete(reason):
            nonlocal stable
            stable = h
            s["stableRS"] = h
            s["currentPodHash"] = h
            if nsteps:
                s["currentStepIndex"] = nsteps
            clear_pause()
            for k in ("abort", "abortedAt", "promoteFull"):
                s.pop(k, None)
            s.setdefault("canary", {}).pop("currentStepAnalysisRunStatus", None)
            if blue_green:
                bg["activeSelector"] = h
                bg["previewSelector"] = h
                s.pop("canary", None)
            else:
                weights(0, h)
            scale_to(replicas, replicas)
            self.set_cond(s, "Progressing", "True", "NewReplicaSetAvailable",
                          f'ReplicaSet "{rs_name(h)}" has successfully progressed.')
            self.set_cond(s, "Completed", "True", "RolloutCompleted", "RolloutCompleted")
            self.set_cond(s, "Paused", "False", "RolloutPaused", "Rollout is paused")
            events.append(("Normal", "RolloutCompleted",
                           f"Rollout completed update to revision {revision} ({h}): {reason}"))

        def do_abort(extra=None):
            msg = f"Rollout aborted update to revision {revision}"
            if extra:
                msg += ": " + extra
            s["abort"] = True
            s["abortedAt"] = self.now_iso()
            clear_pause()
            if nsteps:
                s["currentStepIndex"] = 0
            if blue_green:
                bg["activeSelector"] = stable
                bg["previewSelector"] = h
            else:
                weights(0, h)
            scale_to(0, replicas)
            self.set_cond(s, "Progressing", "False", "RolloutAborted", msg)
            events.append(("Warning", "RolloutAborted", msg))

        def pause_cond(reason):
            pcs = s.setdefault("pauseConditions", [])
            if not any(p.get("reason") == reason for p in pcs):
                pcs.append({"reason": reason, "startTime": self.now_iso()})
                s["controllerPause"] = True
                self.set_cond(s, "Paused", "True", "RolloutPaused", "Rollout is paused")
                events.append(("Normal", "RolloutPaused", f"Rollout is paused ({reason})"))

        def resumed():
            events.append(("Normal", "RolloutResumed", "Rollout is resumed"))
            s.pop("controllerPause", None)
            self.set_cond(s, "Paused", "False", "RolloutResumed", "Rollout is resumed")

        if s.get("currentPodHash") != h:
            # a new pod template (or a revert)
            existing = revision_of(rss, h)
            top = max([revision_of(rss, (r["metadata"].get("labels") or {}).get("rollouts-pod-template-hash"))
                       for r in rss] + [0])
            revision = top + 1 if (existing == 0 or existing < top) else existing
            if not rss and revision == 0:
                revision = 1
            ro["metadata"].setdefault("annotations", {})["rollout.argoproj.io/revision"] = str(revision)
            events.append(("Normal", "RolloutUpdated", f"Rollout updated to revision {revision}"))
            s["currentPodHash"] = h
            clear_pause()
            for k in ("abort", "abortedAt", "promoteFull"):
                s.pop(k, None)
            s.setdefault("canary", {}).pop("currentStepAnalysisRunStatus", None)
            self.ensure_rs(ro, h, "rollouts-pod-template-hash", revision, "rollout.argoproj.io/revision",
                           0 if (stable and stable != h) else replicas)
            self.set_cond(s, "Completed", "False", "RolloutCompleted", "RolloutCompleted")
            if not stable:
                complete("Initial deploy")
            elif stable == h:
                events.append(("Normal", "SkipSteps", "Rollback to stable ReplicaSets"))
                complete("Fast rollback")
            else:
                if nsteps:
                    s["currentStepIndex"] = 0
                else:
                    s.pop("currentStepIndex", None)
                if blue_green:
                    bg["previewSelector"] = h
                    bg["activeSelector"] = stable
                else:
                    weights(0, h)
                self.set_cond(s, "Progressing", "True", "ReplicaSetUpdated", f'Rollout "{name}" is progressing.')
                state["key"] = None
        elif stable == h and not s.get("abort"):
            if not any((r["metadata"].get("labels") or {}).get("rollouts-pod-template-hash") == h for r in rss):
                self.ensure_rs(ro, h, "rollouts-pod-template-hash", revision or 1, "rollout.argoproj.io/revision",
                               replicas)
            s.pop("promoteFull", None)
            scale_to(replicas, replicas)  # follows spec.replicas
        elif s.get("promoteFull"):
            complete("Full promotion requested")
        elif s.get("abort"):
            if not s.get("abortedAt"):
                do_abort()
        else:
            if s.get("abortedAt"):  # retry: status.abort cleared
                s.pop("abortedAt", None)
                if nsteps:
                    s["currentStepIndex"] = 0
                s.pop("abort", None)
                s.setdefault("canary", {}).pop("currentStepAnalysisRunStatus", None)
                self.set_cond(s, "Progressing", "True", "RolloutRetry", "Retrying Rollout after abort")
                events.append(("Normal", "RolloutRetry", "Retrying Rollout after abort"))
                state["key"] = None
            if spec.get("paused"):
                state["started"] = now  # a manual pause stops the step clock
            elif blue_green:
                self.progress_blue_green(s, h, stable, replicas, step_s, state, now, strategy["blueGreen"],
                                         scale_to, complete, pause_cond, resumed)
            else:
                self.progress_canary(s, ro, h, stable, replicas, steps, step_s, state, now, revision,
                                     weights, scale_to, complete, do_abort, pause_cond, resumed, events)

        # counts, phase, message
        rss = self.owned_rs(ns, "Rollout", name)
        total = sum(r["spec"].get("replicas", 0) for r in rss)
        new_n = sum(r["spec"].get("replicas", 0) for r in rss
                    if (r["metadata"].get("labels") or {}).get("rollouts-pod-template-hash") == h)
        s["replicas"] = total
        s["updatedReplicas"] = new_n
        s["readyReplicas"] = total
        s["availableReplicas"] = total
        s["HPAReplicas"] = total
        self.set_cond(s, "Available", "True" if total >= replicas else "False", "AvailableReason",
                      "Rollout has minimum availability" if total >= replicas else "Rollout does not have minimum availability")
        phase, message = self.phase(spec, s, blue_green, replicas)
        s["phase"], s["message"] = phase, message
        healthy = phase == "Healthy"
        self.set_cond(s, "Healthy", "True" if healthy else "False", "RolloutHealthy",
                      "Rollout is healthy" if healthy else "Rollout is not healthy")
        if not s["message"]:
            s.pop("message")
        if s.get("canary") == {}:
            s.pop("canary")
        stored = st.put("rollouts", ro, by_controller=True, bump_generation=False)
        for etype, reason, msg in events:
            self.emit(stored, etype, reason, msg)
        return phase not in ("Healthy", "Degraded")

    @staticmethod
    def phase(spec, s, blue_green, replicas):
        for c in s.get("conditions") or []:
            if c.get("type") == "InvalidSpec":
                return "Degraded", f"InvalidSpec: {c.get('message')}"
            if c.get("reason") in ("RolloutAborted", "ProgressDeadlineExceeded"):
                return "Degraded", f"{c['reason']}: {c.get('message')}"
        if spec.get("paused"):
            return "Paused", "manually paused"
        for pc in s.get("pauseConditions") or []:
            return "Paused", pc.get("reason", "")
        if s.get("updatedReplicas", 0) < replicas:
            return "Progressing", "more replicas need to be updated"
        if blue_green:
            if (s.get("blueGreen") or {}).get("activeSelector") != s.get("currentPodHash"):
                return "Progressing", "active service cutover pending"
        elif s.get("replicas", 0) > s.get("updatedReplicas", 0):
            return "Progressing", "old replicas are pending termination"
        if not s.get("stableRS") or s.get("stableRS") != s.get("currentPodHash"):
            return "Progressing", "waiting for all steps to complete"
        return "Healthy", ""

    def progress_canary(self, s, ro, h, stable, replicas, steps, step_s, state, now, revision,
                        weights, scale_to, complete, do_abort, pause_cond, resumed, events):
        nsteps = len(steps)
        name = ro["metadata"]["name"]
        ns = ro["metadata"]["namespace"]
        for _ in range(nsteps + 1):  # at most one step is entered per pass; loop only over instant completions
            idx = s.get("currentStepIndex", 0) or 0
            if idx >= nsteps:
                complete(f"Completed all {nsteps} canary steps")
                return
            step = steps[idx]
            if state["key"] != (h, idx):
                state["key"] = (h, idx)
                state["started"] = now
                # enter the step
                if "setWeight" in step:
                    w = int(step["setWeight"])
                    weights(w, h)
                    n = min(replicas, math.ceil(replicas * w / 100))
                    scale_to(n, replicas - n if w < 100 else 0)
                elif "pause" in step:
                    pause_cond("CanaryPauseStep")
                elif "analysis" in step:
                    s.setdefault("canary", {})["currentStepAnalysisRunStatus"] = {
                        "name": f"{name}-{h}-{revision}-{idx}", "status": "Running"}
            elapsed = now - state["started"]
            done = False
            if "pause" in step:
                pcs = s.get("pauseConditions") or []
                mine = any(p.get("reason") == "CanaryPauseStep" for p in pcs)
                if s.get("controllerPause") and not mine:
                    done = True  # promoted: the pause condition was removed
                    resumed()
                elif (step.get("pause") or {}).get("duration") is not None and elapsed >= step_s:
                    done = True
                    s["pauseConditions"] = [p for p in pcs if p.get("reason") != "CanaryPauseStep"]
                    if not s["pauseConditions"]:
                        s.pop("pauseConditions")
                    resumed()
            elif "analysis" in step:
                run = (s.get("canary") or {}).get("currentStepAnalysisRunStatus") or {}
                pcs = s.get("pauseConditions") or []
                if any(p.get("reason") == "InconclusiveAnalysisRun" for p in pcs):
                    pass
                elif run.get("status") == "Inconclusive" and s.get("controllerPause"):
                    done = True  # promoted out of an inconclusive run
                    resumed()
                elif elapsed >= step_s:
                    res = self.store.analysis.get((ns, name)) or {}
                    result = res.get("result") or "Successful"
                    metric = res.get("metric") or next(
                        (t.get("templateName") for t in (step["analysis"] or {}).get("templates") or []
                         if t.get("templateName")), "success-rate")
                    if result in ("Failed", "Error"):
                        why = (f'Metric "{metric}" assessed {result} due to failed (1) > failureLimit (0)'
                               if result == "Failed" else f'Metric "{metric}" assessed Error due to consecutiveErrors (5) > consecutiveErrorLimit (4)')
                        run.update(status=result, message=why)
                        s.setdefault("canary", {})["currentStepAnalysisRunStatus"] = run
                        events.append(("Warning", "AnalysisRunFailed",
                                       f"Analysis Run '{run.get('name')}' Status New: '{result}' Previous: 'Running'"))
                        do_abort(f"Step-based analysis phase error/failed: {why}")
                        return
                    if result == "Inconclusive":
                        run.update(status="Inconclusive", message=f'Metric "{metric}" assessed Inconclusive')
                        s.setdefault("canary", {})["currentStepAnalysisRunStatus"] = run
                        pause_cond("InconclusiveAnalysisRun")
                        return
                    done = True
            elif elapsed >= step_s:
                done = True
            if not done:
                return
            events.append(("Normal", "RolloutStepCompleted",
                           f"Rollout step {idx + 1}/{nsteps} completed ({step_string(step)})"))
            s.setdefault("canary", {}).pop("currentStepAnalysisRunStatus", None)
            s.pop("controllerPause", None)
            s["currentStepIndex"] = idx + 1
            # the next step is entered at once (its clock starts now)

    def progress_blue_green(self, s, h, stable, replicas, step_s, state, now, bgspec,
                            scale_to, complete, pause_cond, resumed):
        if state["key"] != (h, "bg"):
            state["key"] = (h, "bg")
            state["started"] = now
            scale_to(replicas, replicas)
        if now - state["started"] < step_s:
            return
        if bgspec.get("autoPromotionEnabled") is False:
            pcs = s.get("pauseConditions") or []
            mine = any(p.get("reason") == "BlueGreenPause" for p in pcs)
            if not s.get("controllerPause"):
                pause_cond("BlueGreenPause")
                return
            if mine:
                return
            resumed()
        complete("Completed blue-green update")

    # -- Deployments
    def reconcile_deployment(self, ns, name):
        st = self.store
        stored = st.get("deployments", ns, name)
        key = ("deployments", ns, name)
        if stored is None:
            self.wl_state.pop(key, None)
            return False
        d = copy.deepcopy(stored)
        spec = d.get("spec") or {}
        if not isinstance((spec.get("template") or {}).get("spec"), dict):
            return False
        s = d.setdefault("status", {})
        replicas = int(spec.get("replicas", 1))
        images = self.images_of(spec["template"])
        rss = self.owned_rs(ns, "Deployment", name)
        h = None
        for rs in rss:
            if self.images_of(rs["spec"].get("template")) == images:
                h = (rs["metadata"].get("labels") or {}).get("pod-template-hash")
        h = h or self.image_hash(images)
        now = time.monotonic()
        state = self.wl_state.setdefault(key, {"key": None, "started": now})
        rev_of = {(r["metadata"].get("labels") or {}).get("pod-template-hash"):
                  int((r["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision", "0") or 0)
                  for r in rss}
        mine = f"{name}-{h}"
        if state["key"] != h:
            state["key"], state["started"] = h, now
            steady = any(r["metadata"]["name"] == mine and r["spec"].get("replicas") == replicas for r in rss) \
                and all(r["spec"].get("replicas", 0) == 0 for r in rss if r["metadata"]["name"] != mine)
            if steady or not rss:
                state["started"] = now - 1e9
            if not steady:
                top = max(rev_of.values(), default=0)
                revision = rev_of[h] if rev_of.get(h) == top and top > 0 else top + 1
                d["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = str(revision)
                self.ensure_rs(d, h, "pod-template-hash", revision, "deployment.kubernetes.io/revision",
                               replicas if not rss else None)
        done = now - state["started"] >= self.step_for("deployments", ns, name)
        for rs in self.owned_rs(ns, "Deployment", name):
            if rs["metadata"]["name"] == mine:
                self.scale(rs, replicas if done else rs["spec"].get("replicas", 0))
            elif done:
                self.scale(rs, 0)
        rss = self.owned_rs(ns, "Deployment", name)
        total = sum(r["spec"].get("replicas", 0) for r in rss)
        updated = sum(r["spec"].get("replicas", 0) for r in rss if r["metadata"]["name"] == mine)
        s.update(observedGeneration=d["metadata"].get("generation", 1), replicas=total, updatedReplicas=updated,
                 readyReplicas=total, availableReplicas=total)
        self.set_cond(s, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        if done:
            self.set_cond(s, "Progressing", "True", "NewReplicaSetAvailable", f'ReplicaSet "{mine}" has successfully progressed.')
        else:
            self.set_cond(s, "Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{mine}" is progressing.')
        st.put("deployments", d, by_controller=True, bump_generation=False)
        return not done
