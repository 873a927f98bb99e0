#!/usr/bin/env bash
# systemd's file-descriptor store, with tests/fdstore-manager.py playing
# systemd: the master stores every listening socket (FDSTORE=1, named
# clusterd-LISTENER-SLOT) and its state memfd; restarted with them in
# LISTEN_FDS it takes the same sockets over under a new connection per
# request (none refused or reset), steering still keeps new connections off
# a slot whose worker is not accepting, and a scale-down removes the gone
# slot's socket from the store (FDSTOREREMOVE=1), a scale-up stores it again;
# a changed address closes and removes the old sockets; FDSTORE=0 stores
# nothing.
# The real systemd: tests/real-systemd/fdstore.sh (make check-systemd).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
unset FDSTORE MEMORY_PRESSURE_WATCH	# a test run under systemd 254

FLAG=$T/slow
cluster_app 2 "[cluster]" "log = $T/master.log" \
	"[worker]" "command = /bin/sh -c 'if [ -e $FLAG ] && [ \"\$CLUSTERD_WORKER\" = 1 ]; then sleep 3; fi; exec $WORKER'"
CONF=$T/app.conf
bg_run python3 "$ROOT/tests/fdstore-manager.py" "$T/notify.sock" "$T/store.txt" \
	"$CLUSTERD" "$CONF" "$T/master.out"
MGR=$BG_PID
ready_count() { grep -c "workers ready on" "$T/master.log" 2>/dev/null; }
wait_until 15 eval '[ "$(ready_count)" = 1 ]' || fail "no start: $(cat "$T/master.out" "$T/master.log" 2>/dev/null | tail)"
stored() { tr '\n' ' ' <"$T/store.txt"; }
assert_eq "$(stored)" "clusterd-default-0 clusterd-default-1 clusterd-state " "stored names"
inodes() { ss -lntHe "( sport = :$PORT )" 2>/dev/null | grep -o 'ino:[0-9]*' | sort | tr '\n' ' '; }
before=$(inodes)
assert_eq "$(echo $before | wc -w)" 2 "two per-worker sockets"

# steer_check WHAT: slot 1's worker killed, its successor 3 s from
# accepting: every new connection within 1 s answered by slot 0.
steer_check() {
	local p
	wait_until 10 eval '[ "$("$CLUSTERD" status "$CONF" --json | python3 -c "import json, sys; print(sum(w[\"state\"] == \"ready\" for w in json.load(sys.stdin)[\"workers\"]))")" = 2 ]' ||
		fail "not all ready ($1)"
	p=$("$CLUSTERD" status "$CONF" --json | python3 -c 'import json, sys
print([w["pid"] for w in json.load(sys.stdin)["workers"] if w["slot"] == 1][0])')
	touch "$FLAG"
	kill -9 "$p"
	python3 "$ROOT/tests/load.py" --port "$PORT" --conc 2 --duration 1 --timeout 1 >"$T/steer.json"
	rm -f "$FLAG"
	note "$1: while slot 1 does not accept: $(cat "$T/steer.json" | head -c 300)"
	[ "$(load_field failed "$T/steer.json")" = 0 ] || note "$(grep -E "steer|connections go|spreads|took|order" "$T/master.log" | tail -12)"
	assert_eq "$(load_field failed "$T/steer.json")" 0 "requests that waited on slot 1 ($1)"
	assert_eq "$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["slots"])' "$T/steer.json")" "['0']" "slots that answered ($1)"
}
steer_check "first start"

python3 "$ROOT/tests/load.py" --port "$PORT" --conc 4 --duration 60 --timeout 20 \
	--stop-file "$T/stop" >"$T/load.json" &
LOAD=$!
wait_until 10 eval "ss -tnH '( sport = :$PORT )' | grep -q ."
kill -USR1 "$MGR"
wait_until 20 eval '[ "$(ready_count)" = 2 ]' || fail "no restart: $(tail "$T/master.log")"
http_ok "http://127.0.0.1:$PORT/"
touch "$T/stop"; wait "$LOAD"
note "load during the restart: $(cat "$T/load.json" | head -c 300)"
for f in refused reset timeout other non2xx; do
	assert_eq "$(load_field $f)" 0 "$f connections during the restart"
done
assert_eq "$(inodes)" "$before" "the same sockets after the restart"
master_log_has "took over 2 sockets of the master before (per-worker)" ||
	fail "no take-over logged: $(tail "$T/master.log")"
assert_eq "$(stored)" "clusterd-default-0 clusterd-default-1 clusterd-state " "stored names after the restart"
steer_check "after the restart"

"$CLUSTERD" scale "$CONF" 1 >/dev/null || fail "scale 1"
wait_until 10 eval '[ "$(stored)" = "clusterd-default-0 clusterd-state " ]' ||
	fail "slot 1's socket still stored after the scale-down: $(stored)"
"$CLUSTERD" scale "$CONF" 2 >/dev/null || fail "scale 2"
wait_until 10 eval '[ "$(stored)" = "clusterd-default-0 clusterd-default-1 clusterd-state " ]' ||
	fail "slot 1's socket not stored again: $(stored)"

# A new address: the stored sockets of the old one are closed and removed
# (the old port refused from then on), the new ones stored.
OLD=$PORT
PORT=$(free_port)
sed -i "s/^address = .*/address = 127.0.0.1:$PORT/" "$CONF"
kill -USR1 "$MGR"
wait_until 20 eval '[ "$(ready_count)" = 3 ]' || fail "no restart: $(tail "$T/master.log")"
http_ok "http://127.0.0.1:$PORT/" || fail "not serving on the new address"
wait_until 5 port_refused "$OLD" || fail "the old address still accepts: $(ss -ltnpe "( sport = :$OLD )"; cat "$T/store.txt"; grep -i "closed\|took" "$T/master.log")"
assert_eq "$(stored)" "clusterd-default-0 clusterd-default-1 clusterd-state " "stored names after the address changed"
master_log_has "clusterd-default-0: socket .* matches no \[listen\] at its address: closed" ||
	fail "no word of the old sockets: $(tail "$T/master.log")"
kill -TERM "$MGR"
wait "$MGR"

# FileDescriptorStoreMax=0 as systemd 254 shows it (no $FDSTORE, but
# $MEMORY_PRESSURE_WATCH, which 254 sets by default): nothing stored, said
# once at info, the cluster runs as without a store.
: >"$T/master.log"
MGR_FDSTORE= MEMORY_PRESSURE_WATCH=/dev/null bg_run python3 "$ROOT/tests/fdstore-manager.py" "$T/notify0.sock" \
	"$T/store0.txt" "$CLUSTERD" "$CONF" "$T/master0.out"
MGR=$BG_PID
wait_until 15 eval '[ "$(ready_count)" = 1 ]' || fail "no start with FDSTORE=0: $(tail "$T/master.log")"
assert_eq "$(cat "$T/store0.txt")" "" "stored with FileDescriptorStoreMax=0"
assert_eq "$(grep -c "fd store is off (FileDescriptorStoreMax=0)" "$T/master.log")" 1 "said once"
http_ok "http://127.0.0.1:$PORT/" || fail "not serving with FDSTORE=0"
kill -TERM "$MGR"
wait "$MGR"
grep -q 'Sanitizer' "$T/master.log" "$T/master.out" "$T/master0.out" &&
	fail "sanitizer report: $(grep -h -A5 -m1 Sanitizer "$T/master.out" "$T/master0.out")"
exit 0
