#!/usr/bin/env bash
# What the second wave added crosses an upgrade too: the admin endpoint
# keeps answering on the same socket with the same counters (restarts,
# exits, recycles); an `events --json` reader keeps its stream, is told of
# the upgrade and hears what the new image does; log_format = json stays
# json; max_lifetime keeps recycling under the new image.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
. "$(dirname "$0")/upgrade.sh"
. "$(dirname "$0")/admin.sh"
need_prom

upgrade_setup
ADMIN_PORT=$(free_port)
cluster_app 2 "max_lifetime = 4s" "[cluster]" "admin = 127.0.0.1:$ADMIN_PORT" \
	"log_format = json" "log = $T/clusterd.log"
run_cluster "$T/app.conf"
wait_until 15 grep -q "workers ready on" "$T/clusterd.log" || fail "no start: $(tail -5 "$T/clusterd.log")"

"$CLI" events "$T/app.conf" --json >"$T/events.json" 2>"$T/events.err" &
EVENTS=$!
wait_until 5 eval '[ -s "$T/events.json" ] || grep -q . "$T/events.err" || kill -0 $EVENTS' || fail "events reader"
victim=$(slot_pid 1)
kill -9 "$victim"
wait_until 10 eval '[ -n "$(slot_pid 1)" ] && [ "$(slot_pid 1)" != '"$victim"' ]' || fail "slot 1 not respawned"
wait_until 10 grep -q '"type":"exit"' "$T/events.json" || fail "no exit event before the upgrade: $(cat "$T/events.json")"
scrape "$T/m0"
restarts0=$(metric 'clusterd_slot_restarts_total{slot="1"}' "$T/m0")
crash0=$(metric 'clusterd_worker_exits_total{reason="crash"}' "$T/m0")
assert_eq "$restarts0" 1 "restarts before the upgrade"

install_bin "$NEXT"
out=$("$CLI" upgrade "$T/app.conf" 2>&1) || fail "upgrade: $out"
note "$out"
assert_eq "$(readlink "/proc/$MASTER/exe")" "$BIN" "the master runs the new file"
scrape "$T/m1"
assert_eq "$(metric 'clusterd_slot_restarts_total{slot="1"}' "$T/m1")" "$restarts0" "restarts kept"
assert_eq "$(metric 'clusterd_worker_exits_total{reason="crash"}' "$T/m1")" "$crash0" "crash exits kept"
assert_eq "$(metric 'clusterd_build_info{version="'"$NEXT_VERSION"'"}' "$T/m1")" 1 "build_info of the new image"
wait_until 10 grep -q '"type":"upgrade"' "$T/events.json" || fail "no upgrade event: $(tail -3 "$T/events.json")"

# The new image goes on: a lifetime recycle (4 s) and a crash it reaps.
wait_until 15 eval '[ "$(metric '\''clusterd_slot_recycles_total{slot="0",reason="lifetime"}'\'' "$T/m2" 2>/dev/null || true)" -ge 1 ] 2>/dev/null || { scrape "$T/m2"; false; }' ||
	fail "no lifetime recycle after the upgrade"
victim=$(slot_pid 0)
kill -9 "$victim"
wait_until 10 eval 'grep -q "\"pid\":$victim" "$T/events.json" && grep "\"pid\":$victim" "$T/events.json" | grep -q "\"type\":\"exit\""' ||
	fail "the reader did not hear the new image's events"

kill -TERM "$MASTER"
wait "$MASTER"
assert_eq "$?" 0 "master exit status"
wait "$EVENTS"
assert_eq "$?" 0 "the events reader exits 0 when the master exits"
python3 - "$T/events.json" "$T/clusterd.log" <<'PY' || fail "not JSON"
import json, sys
for path in sys.argv[1:]:
    for n, line in enumerate(open(path), 1):
        try:
            json.loads(line)
        except ValueError:
            sys.exit("%s:%d: %r" % (path, n, line[:200]))
PY
stop_master_clean 2>/dev/null || true
