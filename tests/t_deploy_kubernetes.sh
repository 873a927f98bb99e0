#!/usr/bin/env bash
# deploy/kubernetes/clusterd.yaml parses (PyYAML); its Deployment runs
# `clusterd run` on the ConfigMap's file as the container's command, probes
# /readyz and /livez on the admin port the config names, has no preStop
# hook, and its terminationGracePeriodSeconds is above stop_delay +
# stop_timeout; the embedded config passes `clusterd check`.
. "$(dirname "$0")/lib.sh"

python3 -c 'import yaml' 2>/dev/null || skip "python3-yaml missing"
python3 - "$ROOT/deploy/kubernetes/clusterd.yaml" "$T" <<'PY' || fail "manifest check"
import os, re, sys, yaml
docs = {d["kind"]: d for d in yaml.safe_load_all(open(sys.argv[1]))}
def need(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)
need({"ConfigMap", "Deployment"} <= set(docs), "ConfigMap and Deployment: %s" % sorted(docs))
conf = docs["ConfigMap"]["data"]["app.conf"]
open(os.path.join(sys.argv[2], "app.conf"), "w").write(conf)
def key(k):
    m = re.search(r"^%s\s*=\s*(\S+)" % k, conf, re.M)
    need(m, "no %s in app.conf" % k)
    return m.group(1)
def secs(v):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", v)
    need(m, "duration %s" % v)
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
delay, timeout = secs(key("stop_delay")), secs(key("stop_timeout"))
admin_port = int(key("admin").rsplit(":", 1)[1])
need(delay > 0, "stop_delay is 0")
pod = docs["Deployment"]["spec"]["template"]["spec"]
grace = pod.get("terminationGracePeriodSeconds", 30)
need(delay + timeout < grace, "stop_delay %g + stop_timeout %g >= grace %g" % (delay, timeout, grace))
c = pod["containers"][0]
need(c["command"][:2] == ["clusterd", "run"], "command %s" % c["command"])
mount = [m["mountPath"] for m in c["volumeMounts"] if m["name"] == "config"][0]
need(c["command"][2] == mount + "/app.conf", "config path %s vs mount %s" % (c["command"][2], mount))
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/livez")):
    g = c[probe]["httpGet"]
    need(g["path"] == path, "%s path %s" % (probe, g["path"]))
    need(ports.get(g["port"], g["port"]) == admin_port, "%s port %s, admin %d" % (probe, g["port"], admin_port))
need("preStop" not in c.get("lifecycle", {}), "a preStop hook")
print("manifest: stop_delay %gs + stop_timeout %gs < grace %ds, probes on :%d" % (delay, timeout, grace, admin_port))
PY
# `clusterd check` of the embedded config (a worker command that exists
# here; the file is otherwise as shipped).
sed -i "s|^command = .*|command = $WORKER|" "$T/app.conf"
out=$("$CLUSTERD" check "$T/app.conf" 2>&1); rc=$?
if [ "$rc" != 0 ] && grep -qE "unknown key '(admin|ready_min)'" <<<"$out"; then
	note "this build has no admin endpoint yet: checking the rest ($out)"
	sed -i '/^admin =/d; /^ready_min =/d' "$T/app.conf"
	out=$("$CLUSTERD" check "$T/app.conf" 2>&1); rc=$?
fi
assert_eq "$rc" 0 "clusterd check of the manifest's config: $out"
exit 0
