#!/usr/bin/env bash
# clusterd upgrade under load: the binary at the master's path is replaced
# by a newer build and `clusterd upgrade` re-executes it in place. 8 s of
# keep-alive and new-connection-per-request load see no failed request;
# the master keeps its pid and runs the new file; every worker keeps its
# pid, generation and restart count and stays the master's child; the
# master's fds are the same kinds and number; then a reload and a kill -9
# of a worker are handled by the new image as usual.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
. "$(dirname "$0")/upgrade.sh"

upgrade_setup
cluster_app 3
run_cluster "$T/app.conf"
wait_started
workers_before=$(children "$MASTER" | sort | tr '\n' ' ')
table_before=$(slot_table)
fds_before=$(fd_kinds)
nfds_before=$(master_fds | grep -c .)
inherited_before=$(inherited_fds)

python3 "$ROOT/tests/load.py" --port "$PORT" --duration 8 --conc 8 \
	--keepalive >"$T/load_ka.json" &
LKA=$!
python3 "$ROOT/tests/load.py" --port "$PORT" --duration 8 --conc 4 \
	>"$T/load_nc.json" &
LNC=$!
wait_until 5 eval "ss -tn state established '( dport = :$PORT )' | grep -q $PORT" ||
	fail "no load"
sleep 2	# load running before the upgrade (not a synchronisation)

install_bin "$NEXT"
out=$("$BIN" upgrade "$T/app.conf" 2>&1)
rc=$?
note "upgrade: $out (exit $rc)"
assert_eq "$rc" 0 "clusterd upgrade exit status"
assert_eq "$out" "upgraded: clusterd $OLD_VERSION -> $NEXT_VERSION (master $MASTER), 3 workers kept" "upgrade's answer"

wait "$LKA" || fail "keep-alive load failed"
wait "$LNC" || fail "new-connection load failed"
for f in ka nc; do
	note "load $f: $(cat "$T/load_$f.json" | head -c 400)"
	assert_eq "$(load_field non2xx "$T/load_$f.json")" 0 "non-2xx ($f)"
	for k in refused reset timeout other; do
		assert_eq "$(load_field $k "$T/load_$f.json")" 0 "$k ($f)"
	done
	[ "$(load_field ok "$T/load_$f.json")" -gt 100 ] || fail "load $f barely ran"
done

alive "$MASTER" || fail "master died"
assert_eq "$(readlink "/proc/$MASTER/exe")" "$BIN" "/proc/MASTER/exe"
assert_eq "$(stat -L -c %i "/proc/$MASTER/exe")" "$(stat -c %i "$BIN")" "master runs the new file"
assert_eq "$(children "$MASTER" | sort | tr '\n' ' ')" "$workers_before" "workers (pids, children of the master)"
assert_eq "$(slot_table)" "$table_before" "status: slots, pids, generations, restarts"
assert_eq "$(fd_kinds)" "$fds_before" "the master's fds by kind"
assert_eq "$(master_fds | grep -c .)" "$nfds_before" "the master's fd count"
assert_eq "$(inherited_fds)" "$inherited_before" "fds without close-on-exec (none leaked into the new image)"
assert_contains "$("$BIN" status "$T/app.conf")" "running" "status after the upgrade"

# The new image supervises: a reload rolls, a killed worker is reaped and
# replaced.
out=$("$BIN" reload "$T/app.conf" 2>&1) || fail "reload after the upgrade: $out"
assert_contains "$out" "reloaded: generation 2" "reload after the upgrade"
victim=$(slot_pid 1)
kill -9 "$victim"
wait_until 10 eval '[ -n "$(slot_pid 1)" ] && [ "$(slot_pid 1)" != "$victim" ]' ||
	fail "slot 1 not respawned after kill -9: $(tail -5 "$T/master.log")"
wait_until 10 eval '"$BIN" status "$T/app.conf" | grep -q "3/3 workers ready"' ||
	fail "not 3/3 ready after the respawn"
assert_contains "$(slot_table)" "1:$(slot_pid 1):2:1:ready" "slot 1 respawned, restart counted"
master_log_has "slot 1: pid $victim (generation 2) exited: signal 9" ||
	fail "the new image did not reap pid $victim"
stop_master_clean
exit 0
