#!/usr/bin/env bash
# /metrics of a running cluster, read with Prometheus' own text-format
# parser: every metric name of the contract is there with its type; a
# kill -9 of slot 1's worker raises its restarts and the crash exits by 1;
# a reload raises the ok reloads; the slot's CPU seconds do not drop when
# its worker dies (its rusage is kept); with slot 0's worker stopped,
# connections wait in its accept queue and /metrics and `status --json`
# show the same count.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
. "$(dirname "$0")/admin.sh"

need_prom
ADMIN_PORT=$(free_port)
start_cluster 2 "[cluster]" "admin = 127.0.0.1:$ADMIN_PORT" \
	"[worker]" "restart_delay = 50ms"
wait_until 5 eval '[ "$(admin_get /readyz)" = "ready 2/2" ]' ||
	fail "readyz: $(admin_get /readyz)"
scrape
assert_contains "$(head -c 300 "$T/metrics")" "# TYPE clusterd_build_info gauge" "TYPE lines"

# Every name and type of the contract.
"$PROM_PY" - "$T/metrics" <<'PY' || fail "metric families"
import sys
from prometheus_client.parser import text_string_to_metric_families
want = {
    "clusterd_build_info": ("gauge", {"version"}),
    "clusterd_generation": ("gauge", set()),
    "clusterd_workers_wanted": ("gauge", set()),
    "clusterd_workers_ready": ("gauge", set()),
    "clusterd_slot_state": ("gauge", {"slot", "state"}),
    "clusterd_slot_restarts": ("counter", {"slot"}),
    "clusterd_slot_recycles": ("counter", {"slot", "reason"}),
    "clusterd_slot_cpu_seconds": ("counter", {"slot"}),
    "clusterd_slot_rss_bytes": ("gauge", {"slot"}),
    "clusterd_worker_exits": ("counter", {"reason"}),
    "clusterd_reloads": ("counter", {"result"}),
    "clusterd_reload_duration_seconds": ("gauge", set()),
    "clusterd_listen_queue_length": ("gauge", {"listen", "slot"}),
    "clusterd_listen_queue_limit": ("gauge", {"listen", "slot"}),
    "clusterd_listen_drops": ("counter", {"listen", "slot"}),
    "process_cpu_seconds": ("counter", set()),
    "process_resident_memory_bytes": ("gauge", set()),
    "process_open_fds": ("gauge", set()),
    "process_start_time_seconds": ("gauge", set()),
}
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
bad = []
for n, (t, labels) in want.items():
    f = fams.get(n)
    if f is None:
        bad.append(n + ": missing"); continue
    if f.type != t:
        bad.append("%s: type %s, expected %s" % (n, f.type, t))
    if not f.samples:
        bad.append(n + ": no sample")
    for s in f.samples:
        if set(s.labels) != labels:
            bad.append("%s: labels %s" % (n, sorted(s.labels)))
            break
st = [s for s in fams["clusterd_slot_state"].samples if s.labels["slot"] == "0"]
if sum(s.value for s in st) != 1 or [s.labels["state"] for s in st if s.value == 1] != ["ready"]:
    bad.append("slot 0 state: %s" % st)
reasons = {s.labels["reason"] for s in fams["clusterd_slot_recycles"].samples}
if reasons != {"memory", "lifetime", "request", "watchdog", "stall"}:
    bad.append("recycle reasons %s" % reasons)
if {s.labels["reason"] for s in fams["clusterd_worker_exits"].samples} != {"crash", "stopped", "killed"}:
    bad.append("exit reasons")
if bad:
    print("\n".join(bad), file=sys.stderr); sys.exit(1)
PY
assert_eq "$(metric 'clusterd_build_info{version="'"$("$CLUSTERD" --version | awk '{print $NF}')"'"}')" 1 "build info"
assert_eq "$(metric clusterd_workers_ready)" 2 "workers ready"
assert_eq "$(metric 'clusterd_listen_queue_limit{listen="default",slot="0"}')" 511 "queue limit = backlog"
[ "$(metric process_open_fds)" -gt 5 ] || fail "process_open_fds: $(metric process_open_fds)"

# Some CPU in slot 1, then kill -9 it: restarts and crash exits +1, and
# its CPU seconds stay.
python3 "$ROOT/tests/load.py" --port "$PORT" --duration 2 --conc 4 >"$T/load.json"
scrape
r0=$(metric 'clusterd_slot_restarts_total{slot="1"}')
c0=$(metric 'clusterd_worker_exits_total{reason="crash"}')
cpu0=$(metric 'clusterd_slot_cpu_seconds_total{slot="1"}')
note "slot 1 before the kill: restarts $r0, crash exits $c0, cpu $cpu0 s"
awk -v c="$cpu0" 'BEGIN { exit !(c > 0.01) }' || fail "slot 1 used no CPU under load: $cpu0"
victim=$(slot_pid 1)
kill -KILL "$victim"
wait_until 10 eval '[ -n "$(slot_pid 1)" ] && [ "$(slot_pid 1)" != '"$victim"' ] && [ "$(admin_get /readyz)" = "ready 2/2" ]' ||
	fail "slot 1 not back"
scrape
assert_eq "$(metric 'clusterd_slot_restarts_total{slot="1"}')" $((r0 + 1)) "slot 1 restarts after kill -9"
assert_eq "$(metric 'clusterd_slot_restarts_total{slot="0"}')" 0 "slot 0 restarts"
assert_eq "$(metric 'clusterd_worker_exits_total{reason="crash"}')" $((c0 + 1)) "crash exits after kill -9"
cpu1=$(metric 'clusterd_slot_cpu_seconds_total{slot="1"}')
note "slot 1 after the kill: cpu $cpu1 s"
awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { exit !(b >= a) }' || fail "slot 1 CPU went down across its worker's death: $cpu0 -> $cpu1"

# A reload: ok +1, its duration, and the counters above survive it.
ok0=$(metric 'clusterd_reloads_total{result="ok"}')
out=$("$CLUSTERD" reload "$T/app.conf" 2>&1) || fail "reload: $out"
scrape
assert_eq "$(metric 'clusterd_reloads_total{result="ok"}')" $((ok0 + 1)) "ok reloads"
assert_eq "$(metric 'clusterd_reloads_total{result="failed"}')" 0 "failed reloads"
assert_eq "$(metric clusterd_generation)" 2 "generation"
assert_eq "$(metric 'clusterd_slot_restarts_total{slot="1"}')" $((r0 + 1)) "restarts survive a reload"
awk -v d="$(metric clusterd_reload_duration_seconds)" 'BEGIN { exit !(d > 0 && d < 60) }' ||
	fail "reload duration $(metric clusterd_reload_duration_seconds)"
# The replaced generation-1 workers were asked to stop.
[ "$(metric 'clusterd_worker_exits_total{reason="stopped"}')" -ge 1 ] ||
	wait_until 5 eval 'scrape && [ "$(metric "clusterd_worker_exits_total{reason=\"stopped\"}")" -ge 1 ]' ||
	fail "stopped exits after the reload: $(metric 'clusterd_worker_exits_total{reason="stopped"}')"

# Slot 0's worker stopped: connections to its socket wait in its queue.
victim=$(slot_pid 0)
kill -STOP "$victim"
on_exit "kill -CONT $victim 2>/dev/null"
python3 - "$PORT" "$T/conns.ready" <<'PY' &
import socket, sys, time
socks = []
for i in range(60):
    s = socket.socket()
    s.connect(("127.0.0.1", int(sys.argv[1])))
    socks.append(s)
open(sys.argv[2], "w").close()
time.sleep(30)
PY
HOLD=$!
on_exit "kill $HOLD 2>/dev/null"
wait_until 10 test -e "$T/conns.ready" || fail "connections not opened"
# Steering spreads them over both slots; slot 1 accepts its share.
wait_until 10 eval 'scrape && [ "$(metric "clusterd_listen_queue_length{listen=\"default\",slot=\"0\"}")" -ge 15 ]' ||
	fail "slot 0 queue: $(metric 'clusterd_listen_queue_length{listen="default",slot="0"}')"
q=$(metric 'clusterd_listen_queue_length{listen="default",slot="0"}')
sq=$("$CLUSTERD" status "$T/app.conf" --json | python3 -c 'import json, sys
d = json.load(sys.stdin)
print([w["queued"] for w in d["workers"] if w["slot"] == 0 and w["state"] == "ready"][0])')
note "slot 0 queue: metrics $q, status $sq"
assert_eq "$sq" "$q" "status --json queued = the metric"
"$CLUSTERD" status "$T/app.conf" | grep -qE "^0 +$victim +2 +ready +[^ ]+ +[0-9]+ +[^ ]+ +$q +[0-9.]+s +yes" ||
	fail "status text QUEUE column: $("$CLUSTERD" status "$T/app.conf")"
kill $HOLD 2>/dev/null
kill -CONT "$victim"
stop_master_clean
exit 0
