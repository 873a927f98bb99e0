#!/usr/bin/env bash
# reload_surge: 8 workers that take 1 s to be ready, reload_surge = 4,
# under keep-alive load: the reload is done in two batches (< 3.5 s, where
# reload_surge = 1 takes >= 8 s in the same test), at most 4 successors at
# once, at least 8 workers ready at every 100 ms sample of status --json,
# no request failed. A new worker that fails stops the roll: the other
# slots of its batch keep their old workers.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

start_cluster 8 "command = $WORKER --ready-delay-ms 1000" "reload_surge = 4" \
	"ready_timeout = 20s"
CONF=$T/app.conf

# sample_ready OUT: `status --json` every 100 ms until $T/stop exists;
# one line per sample: ready, and how many successors were starting.
sample_ready() {
	python3 - "$T/control.sock" "$T/stop" >"$1" <<'PY' &
import json, os, socket, sys, time
path, stop = sys.argv[1:3]
def status():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    s.sendall(b"clusterd/1 status json\n")
    data = b""
    while (d := s.recv(65536)):
        data += d
    s.close()
    code, _, body = data.partition(b"\n")
    return json.loads(body)
while not os.path.exists(stop):
    t = time.monotonic()
    try:
        st = status()
        print(st["ready"], sum(w["state"] == "starting" for w in st["workers"]), flush=True)
    except (OSError, ValueError) as e:
        print("bad", repr(e), flush=True)
    time.sleep(max(0, 0.1 - (time.monotonic() - t)))
PY
	SAMPLER=$!
	wait_until 10 test -s "$1" || fail "the sampler did not start"
}

# surge_reload GEN: `clusterd reload` under load; sets MS to how long it took.
surge_reload() {
	rm -f "$T/stop"
	python3 "$ROOT/tests/load.py" --port "$PORT" --duration 30 --conc 8 --keepalive \
		--stop-file "$T/stop" >"$T/load$1.json" &
	local load=$! t0
	wait_until 5 eval "ss -tnH state established '( dport = :$PORT )' | grep -q ." ||
		fail "load did not connect"
	sample_ready "$T/samples$1"
	t0=$(now_ms)
	"$CLUSTERD" reload "$CONF" >"$T/reload$1.out" 2>&1 || fail "reload $1: $(cat "$T/reload$1.out")"
	MS=$(($(now_ms) - t0))
	touch "$T/stop"
	wait "$SAMPLER" "$load"
	note "reload to generation $1: $MS ms: $(cat "$T/reload$1.out"); load: $(cat "$T/load$1.json")"
	[ "$(load_field failed "$T/load$1.json")" = 0 ] && [ "$(load_field ok "$T/load$1.json")" -gt 100 ] ||
		fail "requests failed during reload $1"
	grep -q bad "$T/samples$1" && fail "status --json unreadable: $(grep bad "$T/samples$1" | head -1)"
	local min maxrep n
	n=$(wc -l <"$T/samples$1")
	min=$(awk 'NR == 1 || $1 < m { m = $1 } END { print m }' "$T/samples$1")
	maxrep=$(awk '$2 > m { m = $2 } END { print m + 0 }' "$T/samples$1")
	note "$n samples: ready >= $min, at most $maxrep replacing at once"
	# one every 100 ms: at least half of them on a loaded machine
	[ "$n" -ge $((MS / 200)) ] || fail "too few samples ($n in $MS ms)"
	[ "$min" -ge 8 ] || fail "ready count fell to $min during reload $1"
	REPLACING=$maxrep
}

surge_reload 2
[ "$MS" -lt 3500 ] || fail "reload_surge = 4 took $MS ms (two batches of 1 s boots)"
[ "$REPLACING" -le 4 ] || fail "$REPLACING slots replaced at once with reload_surge = 4"
[ "$REPLACING" -ge 2 ] || fail "no batch seen: at most $REPLACING slot replacing at once"

sed -i 's/^reload_surge = 4$/reload_surge = 1/' "$CONF"
surge_reload 3
[ "$MS" -ge 8000 ] || fail "reload_surge = 1 took only $MS ms for 8 boots of 1 s"
[ "$REPLACING" -le 1 ] || fail "$REPLACING slots replaced at once with reload_surge = 1"

# A batch with a failing slot: slots 4-7 are the second batch, slot 6 fails.
before=$("$CLUSTERD" status "$CONF" | awk '$1 ~ /^[0-9]+$/ { print $1, $2, $3 }')
sed -i -e 's/^reload_surge = 1$/reload_surge = 4/' \
	-e "s|^command = .*|command = $WORKER --ready-delay-ms 1000 --exit-at-start 3 --only-slot 6|" "$CONF"
"$CLUSTERD" reload "$CONF" >"$T/reload4.out" 2>&1 && fail "reload with a failing slot succeeded"
note "$(cat "$T/reload4.out")"
assert_contains "$(cat "$T/reload4.out")" "slot 6" "the failed reload names the slot"
wait_until 10 eval '[ "$("$CLUSTERD" status "$CONF" | awk '\''$4 == "ready"'\'' | wc -l)" = 8 ]' ||
	fail "not 8 ready after the failed reload: $("$CLUSTERD" status "$CONF")"
after=$("$CLUSTERD" status "$CONF" | awk '$1 ~ /^[0-9]+$/ { print $1, $2, $3 }')
# Slots 0-3 (the first batch) run generation 4; 4-7 kept their old workers.
for i in 4 5 6 7; do
	assert_eq "$(awk -v s=$i '$1 == s' <<<"$after")" "$(awk -v s=$i '$1 == s' <<<"$before")" \
		"slot $i of the failed batch kept its worker"
done
for i in 0 1 2 3; do
	assert_eq "$(awk -v s=$i '$1 == s { print $3 }' <<<"$after")" 4 "slot $i of the first batch"
done
stop_master_clean
