#!/usr/bin/env bash
# The lame duck as a load balancer sees it: with stop_delay = 2s and the
# admin endpoint, /readyz answers 503 "stopping" within 100 ms of SIGTERM
# (polled on one keep-alive connection), /livez stays 200 and the workers
# keep answering during the delay; then the stop, exit 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
. "$(dirname "$0")/admin.sh"

ADMIN_PORT=$(free_port)
start_cluster 2 "[cluster]" "stop_delay = 2s" "admin = 127.0.0.1:$ADMIN_PORT"
assert_eq "$(admin_code /readyz)" 200 "/readyz before the stop"
python3 - "$ADMIN_PORT" "$PORT" "$MASTER" >"$T/poll.json" <<'PY' || fail "poller: $(cat "$T/poll.json")"
import http.client, json, os, signal, sys, time
admin, port, master = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
a = http.client.HTTPConnection("127.0.0.1", admin, timeout=5)
def get(c, path):
    c.request("GET", path); r = c.getresponse(); return r.status, r.read().decode()
for _ in range(20):
    assert get(a, "/readyz")[0] == 200
t0 = time.monotonic()
os.kill(master, signal.SIGTERM)
first = None
while time.monotonic() - t0 < 1.5:
    code, body = get(a, "/readyz")
    if code == 503 and first is None:
        first = (time.monotonic() - t0) * 1000, body.strip()
live = get(a, "/livez")[0]
w = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
served = get(w, "/")[0]
print(json.dumps({"first_503_ms": first and round(first[0], 1), "body": first and first[1],
                  "livez": live, "worker": served}))
PY
note "$(cat "$T/poll.json")"
python3 - "$T/poll.json" <<'PY' || fail "lame duck seen from the admin endpoint: $(cat "$T/poll.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["first_503_ms"] is not None and r["first_503_ms"] <= 100, r
assert r["body"] == "stopping", r
assert r["livez"] == 200 and r["worker"] == 200, r
PY
wait "$MASTER"
assert_eq "$?" 0 "exit status after the lame duck"
