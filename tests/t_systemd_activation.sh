#!/usr/bin/env bash
# Socket activation (systemd-socket-activate plays systemd): the master uses
# the sockets it is passed instead of binding, matched to [listen NAME] by
# FileDescriptorName (a single socket and a single [listen] whatever the
# name), always as one shared socket, even with `sockets = per-worker`.
# Workers get them as fd 3.. only; the master keeps them open while workers
# crash, so queued connections are answered, not refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate missing"

# activate CONF ACTIVATE-ARGS...: systemd-socket-activate ARGS clusterd run
# CONF. It execs clusterd on the first connection: make one, then wait for
# the cluster. $MASTER is the master's pid (the same process).
activate() {
	local conf=$1; shift
	# It passes on only the environment it is told to (-E).
	bg_run systemd-socket-activate -E CLUSTERD_WORKER_DEBUG "$@" "$CLUSTERD" run "$conf" >"$T/master.log" 2>&1
	MASTER=$BG_PID
	wait_until 5 grep -q "^Listening on" "$T/master.log" ||
		fail "systemd-socket-activate: $(cat "$T/master.log")"
	port_open "$FIRST_PORT" || fail "activated port $FIRST_PORT refuses"
	wait_started
}

# Inodes of every listening TCP socket on PORT.
listen_inodes() { ss -ltnHe "( sport = :$1 )" | grep -o 'ino:[0-9]*' | cut -d: -f2 | sort -u; }
# fds_of PID INODE...: PID's fds that are one of these sockets ("3 4").
fds_of() {
	local pid=$1 fd link ino out=; shift
	for fd in /proc/"$pid"/fd/*; do
		link=$(readlink "$fd" 2>/dev/null) || continue
		for ino in "$@"; do
			[ "$link" = "socket:[$ino]" ] && out="$out ${fd##*/}"
		done
	done
	echo $out | tr ' ' '\n' | sort -n | tr '\n' ' ' | sed 's/ $//'
}
# pids_answering PORT: distinct worker pids over 24 fresh connections.
pids_answering() {
	local i
	for i in $(seq 24); do
		http_headers "http://127.0.0.1:$1/" | header_of X-Worker-Pid
	done | sort -u | grep -c .
}
nworkers_ready() { [ "$(nchildren "$MASTER")" -eq "$1" ]; }

# 1. One socket, plain [listen] at a *different* address, sockets =
#    per-worker: the activated socket is used anyway (with a warning), as
#    one shared socket; the master binds nothing.
P=$(free_port) OTHER=$(free_port) FIRST_PORT=$P
NAME=sa1 CONF=$T/one.conf cluster_app 2 "[listen]" "address = 127.0.0.1:$OTHER" \
	"sockets = per-worker" "[worker]" "restart_delay = 100ms"
activate "$T/one.conf" -l "127.0.0.1:$P"
master_log_has "\[listen default\]: using socket 3 from systemd (shared)" ||
	fail "activated socket not used: $(cat "$T/master.log")"
master_log_has "not bound to 127.0.0.1:$OTHER" || fail "no address warning: $(cat "$T/master.log")"
port_refused "$OTHER" || fail "the master bound $OTHER itself"
inodes=$(listen_inodes "$P")
assert_eq "$(echo "$inodes" | grep -c .)" 1 "listening sockets on $P (shared, not per-worker)"
assert_eq "$(fds_of "$MASTER" $inodes)" 3 "the master's fds holding the activated socket"
workers=$(children "$MASTER")
assert_eq "$(echo "$workers" | grep -c .)" 2 "workers"
for w in $workers; do
	assert_eq "$(fds_of "$w" $inodes)" 3 "worker $w's fds holding the activated socket"
done
env=$(http_get "http://127.0.0.1:$P/env")
assert_contains "$env" "LISTEN_FDS=1" "worker env"
assert_contains "$env" "LISTEN_FDNAMES=default" "worker env"
assert_eq "$(pids_answering "$P")" 2 "workers answering through the activated socket"

# Every worker dies at once: the master still holds the socket, so a client
# that connects now waits in its queue and is answered by a new worker.
kill -KILL $workers
assert_eq "$(http_get "http://127.0.0.1:$P/")" "hello world" "answer after every worker was killed"
wait_until 5 nworkers_ready 2 || fail "workers not respawned: $(children "$MASTER")"
new=$(children "$MASTER")
for w in $workers; do
	! echo "$new" | grep -qx "$w" || fail "worker $w still there"
done
assert_eq "$(listen_inodes "$P")" "$inodes" "the activated socket after the crash"
for w in $new; do
	assert_eq "$(fds_of "$w" $inodes)" 3 "respawned worker $w's fds"
done
stop_master

# 2. --fdname=web and a [listen web] section.
P=$(free_port) FIRST_PORT=$P
WORKERS=2 NAME=sa2 cluster_conf "$T/web.conf" <<EOF
[listen web]
address = 127.0.0.1:$P
[worker]
command = $WORKER
ready = notify
EOF
activate "$T/web.conf" -l "127.0.0.1:$P" --fdname=web
master_log_has "\[listen web\]: using socket 3 from systemd" || fail "$(cat "$T/master.log")"
! master_log_has "not bound to" || fail "spurious address warning: $(cat "$T/master.log")"
assert_contains "$(http_get "http://127.0.0.1:$P/env")" "LISTEN_FDNAMES=web" "worker env"
assert_eq "$(pids_answering "$P")" 2 "workers answering on [listen web]"
stop_master

# 3. Two sockets, passed in the other order than the [listen] sections:
#    matched by name. Workers get them in [listen] order: fd 3 = web.
PW=$(free_port) PA=$(free_port) FIRST_PORT=$PA
WORKERS=2 NAME=sa3 cluster_conf "$T/two.conf" <<EOF
[listen web]
address = 127.0.0.1:$PW
[listen api]
address = 127.0.0.1:$PA
[worker]
command = $WORKER
ready = notify
EOF
activate "$T/two.conf" -l "127.0.0.1:$PA" -l "127.0.0.1:$PW" --fdname=api:web
master_log_has "\[listen web\]: using socket 4 from systemd" || fail "$(cat "$T/master.log")"
master_log_has "\[listen api\]: using socket 3 from systemd" || fail "$(cat "$T/master.log")"
master_log_has "fd 3 (web): 127.0.0.1:$PW" || fail "worker fd 3 is not web: $(cat "$T/master.log")"
master_log_has "fd 4 (api): 127.0.0.1:$PA" || fail "worker fd 4 is not api: $(cat "$T/master.log")"
assert_contains "$(http_get "http://127.0.0.1:$PW/env")" "LISTEN_FDNAMES=web:api" "worker env"
inodes="$(listen_inodes "$PW") $(listen_inodes "$PA")"
assert_eq "$(fds_of "$MASTER" $inodes)" "3 4" "the master's fds holding the activated sockets"
for w in $(children "$MASTER"); do
	assert_eq "$(fds_of "$w" $inodes)" "3 4" "worker $w's fds holding the activated sockets"
done
assert_eq "$(pids_answering "$PW")" 2 "workers answering on web"
assert_eq "$(pids_answering "$PA")" 2 "workers answering on api"
stop_master

# 4. Names that match nothing: matched by address instead.
activate "$T/two.conf" -l "127.0.0.1:$PA" -l "127.0.0.1:$PW" --fdname=x:y
master_log_has "\[listen web\]: using socket 4 from systemd" || fail "$(cat "$T/master.log")"
master_log_has "\[listen api\]: using socket 3 from systemd" || fail "$(cat "$T/master.log")"
assert_eq "$(http_get "http://127.0.0.1:$PW/")" "hello world" "web by address"
assert_eq "$(http_get "http://127.0.0.1:$PA/")" "hello world" "api by address"
stop_master
exit 0
