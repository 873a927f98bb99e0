#!/usr/bin/env bash
# /livez and /readyz: 503 "starting" while a slow worker boots, 200
# "ready 2/2" once ready; with ready_min = 100% a slot in backoff makes it
# 503 "ready 1/2", and it is 200 again when the slot is back. /status is
# the `status --json` object and shows no command, env, directory or file
# path. HEAD works, other paths 404. The endpoint is not a worker's socket
# and the master stays one thread. After a reload to ready_min = 1, a slot
# in backoff leaves it 200 "ready 1/2"; during the stop it is 503
# "stopping" while /livez stays 200.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
. "$(dirname "$0")/admin.sh"

ADMIN_PORT=$(free_port)
mkdir -p "$T/wd"
cluster_app 2 "[cluster]" "admin = 127.0.0.1:$ADMIN_PORT" "ready_min = 100%" \
	"[worker]" "command = $WORKER --ready-delay-ms 1500" \
	"directory = $T/wd" "env = SECRET_TOKEN=hunter2" \
	"restart_delay = 3s" "ready_timeout = 20s"
run_cluster "$T/app.conf"
wait_until 5 eval '[ "$(admin_code /livez)" = 200 ]' || fail "livez: $(admin_code /livez)"
assert_eq "$(admin_get /livez)" "ok" "livez body"
assert_eq "$(admin_code /readyz)" 503 "readyz while the workers boot"
assert_eq "$(admin_get /readyz)" "starting" "readyz body while booting"
wait_started 20
assert_eq "$(admin_code /readyz)" 200 "readyz once ready"
assert_eq "$(admin_get /readyz)" "ready 2/2" "readyz body once ready"
hdr=$(curl -s --max-time 5 -I "http://127.0.0.1:$ADMIN_PORT/readyz" | tr -d '\r')
assert_contains "$hdr" "HTTP/1.1 200" "HEAD /readyz"
assert_contains "$hdr" "Content-Type: text/plain; charset=utf-8" "readyz type"
assert_eq "$(admin_code /nope)" 404 "other path"
mhdr=$(curl -s --max-time 5 -D - -o /dev/null "http://127.0.0.1:$ADMIN_PORT/metrics" | tr -d '\r')
assert_contains "$mhdr" "Content-Type: text/plain; version=0.0.4; charset=utf-8" "metrics type"

# /status: the status --json object, with nothing secret in it.
admin_get /status >"$T/admin.json"
python3 - "$T/admin.json" <<'PY' || fail "/status: $(cat "$T/admin.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["state"] == "running" and d["wanted"] == 2 and d["ready"] == 2, d
assert len(d["workers"]) == 2 and all("queued" in w and "cpu_s" in w for w in d["workers"]), d
PY
"$CLUSTERD" status "$T/app.conf" --json >"$T/cli.json"
# The same fields as status --json, less the config file's path.
assert_eq "$(python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); b.pop("file"); print(sorted(a) == sorted(b))' "$T/admin.json" "$T/cli.json")" True "same fields as status --json but file"
for secret in hunter2 SECRET_TOKEN "$T/wd" "$WORKER" "$T/app.conf" "$T/control.sock"; do
	for p in /status /metrics /readyz /livez; do
		admin_get "$p" | grep -qF -- "$secret" && fail "$p shows $secret"
	done
done

# Not a worker's socket: no worker holds a socket bound to the admin port.
for p in $(children "$MASTER"); do
	ss -Htlnp "( sport = :$ADMIN_PORT )" | grep -q "pid=$p," && fail "worker $p holds the admin socket"
done
assert_eq "$(ls "/proc/$MASTER/task" | wc -l)" 1 "master threads"

# ready_min = 100%: slot 1 in backoff (restart_delay 3s) -> 503 ready 1/2.
victim=$(slot_pid 1)
kill -KILL "$victim"
wait_until 3 eval '[ "$(admin_get /readyz)" = "ready 1/2" ]' || fail "readyz with a slot in backoff: $(admin_get /readyz)"
assert_eq "$(admin_code /readyz)" 503 "readyz code with a slot in backoff"
wait_until 15 eval '[ "$(admin_code /readyz)" = 200 ]' || fail "readyz after the slot is back: $(admin_get /readyz)"
assert_eq "$(admin_get /readyz)" "ready 2/2" "readyz when the slot is back"

# ready_min = 1 (a reload applies it): one slot in backoff is still ready.
cluster_app 2 "[listen]" "address = 127.0.0.1:$PORT" "[cluster]" "admin = 127.0.0.1:$ADMIN_PORT" "ready_min = 1" \
	"[worker]" "command = $WORKER --ready-delay-ms 1500" \
	"directory = $T/wd" "env = SECRET_TOKEN=hunter2" \
	"restart_delay = 3s" "ready_timeout = 20s"
out=$("$CLUSTERD" reload "$T/app.conf" 2>&1) || fail "reload: $out"
victim=$(slot_pid 1)
kill -KILL "$victim"
wait_until 3 eval '[ "$(admin_get /readyz)" = "ready 1/2" ]' || fail "readyz with ready_min = 1: $(admin_get /readyz)"
assert_eq "$(admin_code /readyz)" 200 "readyz code, ready_min = 1, a slot in backoff"
wait_until 15 eval '[ "$(admin_get /readyz)" = "ready 2/2" ]' || fail "slot 1 not back"

# Stopping, with a request in flight: 503 stopping, and /livez still 200.
curl -s --max-time 10 -o /dev/null "http://127.0.0.1:$PORT/slow?ms=3000" &
CURL=$!
wait_until 3 eval "ss -Htn state established '( dport = :$PORT )' | grep -q ." || fail "slow request not connected"
kill -TERM "$MASTER"
wait_until 2 eval '[ "$(admin_get /readyz)" = "stopping" ]' || fail "readyz during the stop: $(admin_get /readyz)"
assert_eq "$(admin_code /readyz)" 503 "readyz code during the stop"
assert_eq "$(admin_code /livez)" 200 "livez during the stop"
wait "$CURL"
wait "$MASTER"
assert_eq "$?" 0 "master exit status"
port_refused "$ADMIN_PORT" || fail "admin port still open after the master exited"
exit 0
