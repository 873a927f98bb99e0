# tests/real-systemd/fdstore.sh - sourced by run.sh: systemd's fd store.
# `systemctl restart` and a kill -9 of the master (Restart=on-failure)
# under a new connection per request: no connection refused or reset (after
# the kill -9: but the requests in flight at that instant), the
# per-worker sockets are the same inodes before and after, and steering
# still sends new connections only to ready slots. Prints the numbers of
# a restart under 64 keep-alive connections (failed, longest wait).

U=clusterd@fds.service
PF=$(free_port)
ct sh -c "cat >/etc/clusterd/fds.conf" <<EOF2
[cluster]
workers = 2
user = nobody

[listen]
address = 127.0.0.1:$PF

[worker]
command = /bin/sh -c 'if [ -e /run/fds-slow ] && [ "\$CLUSTERD_WORKER" = 1 ]; then sleep 3; fi; exec /usr/bin/clusterd-worker --ready-delay-ms 1500'
ready = notify
EOF2

fds_inodes() { ss -lntHe "( sport = :$PF )" 2>/dev/null | grep -o 'ino:[0-9]*' | sort | tr '\n' ' '; }
# fds_load [ARGS]: tests/load.py in the background until fds_load_end.
fds_load() {
	rm -f "$W/fstop"
	python3 "$ROOT/tests/load.py" --port "$PF" --duration 90 --timeout 30 \
		--stop-file "$W/fstop" "$@" >"$W/fload.json" 2>&1 &
	LOADPID=$!
	wait_for 10 bash -c "ss -tnH '( sport = :$PF )' | grep -q ."
}
fds_load_end() { touch "$W/fstop"; wait "$LOADPID"; LOADPID=; }
fds_field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$W/fload.json" "$1"; }
fds_no_loss() {
	python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["ok"] > 0 and r["non2xx"] == 0 and
    all(r.get(k, 0) == 0 for k in ("refused", "reset", "timeout", "other"))))' "$W/fload.json"
}
fds_status() { ct clusterd status /etc/clusterd/fds.conf --json | python3 -c "import json, sys; d = json.load(sys.stdin); $1"; }
fds_slot_pid() { fds_status "print([w['pid'] for w in d['workers'] if w['slot'] == $1 and w['state'] == 'ready'][0])"; }
fds_all_ready() { fds_status "sys.exit(sorted(w['state'] for w in d['workers']) != ['ready', 'ready'])"; }
# Steering: with slot 1's worker killed and its successor 3 s from even
# accepting (/run/fds-slow), every new connection goes to slot 0 and is
# answered at once; without steering half of them would wait on slot 1's
# socket past the 1 s deadline.
fds_steer_check() {
	local p
	wait_for 20 fds_all_ready
	p=$(fds_slot_pid 1)
	[ -n "$p" ] || { bad "$1: no worker of slot 1"; return; }
	ct sh -c "touch /run/fds-slow; kill -9 $p"
	python3 "$ROOT/tests/load.py" --port "$PF" --conc 2 --duration 1 \
		--timeout 1 >"$W/fsteer.json" 2>&1
	ct rm -f /run/fds-slow
	log "$1: load while slot 1 is not ready: $(cat "$W/fsteer.json" | head -c 300)"
	check "$1: steering: only slot 0 answers while slot 1 is not ready, none waits" \
		python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["ok"] > 0 and r["slots"] == ["0"] and r["failed"] == 0))' "$W/fsteer.json" ||
		ct journalctl -u "$U" -o cat --no-pager | grep -E "steer|connections go|spreads|listen" | tail -12 | sed 's/^/    /'
	wait_for 20 fds_all_ready
}

# Debug lines say where steering sends new connections.
ct mkdir -p "/etc/systemd/system/$U.d"
ct sh -c "printf '[Service]\nEnvironment=CLUSTERD_DEBUG=1\n' >/etc/systemd/system/$U.d/debug.conf"
ct systemctl daemon-reload
ct systemctl start "$U"; rc=$?
check "fd store: systemctl start $U: rc $rc" test "$rc" = 0
check "fd store: FileDescriptorStoreMax=$(prop "$U" FileDescriptorStoreMax)" \
	test "$(prop "$U" FileDescriptorStoreMax)" -gt 0
check "fd store: 2 sockets + the state stored: NFileDescriptorStore=$(prop "$U" NFileDescriptorStore)" \
	test "$(prop "$U" NFileDescriptorStore)" = 3
before=$(fds_inodes)
log "fd store: listening sockets: $before"
fds_steer_check "fd store: first start"

# systemctl restart under a new connection per request.
MAIN=$(prop "$U" MainPID)
fds_load --conc 4
t=$(date +%s%N)
ct systemctl restart "$U"; rc=$?
dt=$(ms_since "$t")
http_ok "$PF"
fds_load_end
log "fd store: load during systemctl restart: $(cat "$W/fload.json" | head -c 300)"
check "fd store: systemctl restart rc $rc after $dt ms: none refused or reset (longest wait $(fds_field max_ms) ms)" fds_no_loss
check "fd store: a new master ($(prop "$U" MainPID), was $MAIN)" main_pid_changed "$U" "$MAIN"
check "fd store: same sockets after the restart: $(fds_inodes)" test "$(fds_inodes)" = "$before"
check "fd store: journal: the new master took 2 sockets over" \
	grep -q "took over 2 sockets of the master before (per-worker)" \
	<<<"$(ct journalctl -u "$U" -o cat --no-pager)"
fds_steer_check "fd store: after systemctl restart"

# kill -9 of the master: Restart=on-failure, the same.
MAIN=$(prop "$U" MainPID)
fds_load --conc 4
t=$(date +%s%N)
ct sh -c "kill -9 $MAIN"
wait_for 30 main_pid_changed "$U" "$MAIN"
wait_for 30 state_is "$U" active
dt=$(ms_since "$t")
http_ok "$PF"
fds_load_end
log "fd store: load during kill -9 + restart: $(cat "$W/fload.json" | head -c 300)"
# The requests the workers were serving at the kill are lost: with
# KillMode=mixed systemd SIGKILLs what is left of the unit once its main
# process is gone (at most one per load connection). None of those that
# arrive afterwards may be.
check "fd store: kill -9 of the master, active again after $dt ms: none refused or timed out, $(fds_field reset) in flight at the kill reset (longest wait $(fds_field max_ms) ms)" \
	python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["ok"] > 0 and r["non2xx"] == 0 and r["refused"] == 0 and
    r["timeout"] == 0 and r["other"] == 0 and r["reset"] <= 4))' "$W/fload.json"
check "fd store: NRestarts=$(prop "$U" NRestarts)" test "$(prop "$U" NRestarts)" = 1
check "fd store: same sockets after the crash: $(fds_inodes)" test "$(fds_inodes)" = "$before"
fds_steer_check "fd store: after kill -9"

# Numbers: systemctl restart under 64 keep-alive connections.
fds_load --conc 64 --keepalive
t=$(date +%s%N)
ct systemctl restart "$U"
dt=$(ms_since "$t")
http_ok "$PF"
fds_load_end
log "bench: systemctl restart under 64 keep-alive connections: $dt ms, $(fds_field ok) ok, $(fds_field failed) failed, longest client wait $(fds_field max_ms) ms"

# stop, then start: the store is emptied, the port refused in between.
ct systemctl stop "$U"
check "fd store: port refused after systemctl stop" port_refused "$PF"
ct systemctl start "$U"
check "fd store: new sockets after stop + start" test "$(fds_inodes)" != "$before"
ct systemctl stop "$U"
