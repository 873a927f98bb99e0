#!/usr/bin/env bash
# clusterd run: 2 workers serve, both slots answer, each worker holds
# exactly fds 0-3 from the master and the environment of the worker
# contract (LISTEN_*, NOTIFY_SOCKET, CLUSTERD_*); SIGTERM stops it with
# exit 0; workers = auto is the number of CPUs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

start_cluster 2 "env = GREETING=hello world"

# Both slots answer (the kernel spreads new connections over both sockets).
seen=""
for i in $(seq 1 60); do
	seen="$seen $(http_headers "http://127.0.0.1:$PORT/" | header_of X-Worker-Slot)"
	case $seen in *0*1*|*1*0*) break ;; esac
done
assert_contains "$seen" 0 "slot 0 answers"
assert_contains "$seen" 1 "slot 1 answers"

for pid in $(children "$MASTER"); do
	env=$(tr '\0' '\n' <"/proc/$pid/environ")
	slot=$(echo "$env" | sed -n 's/^CLUSTERD_WORKER=//p')
	assert_contains "$env" "LISTEN_PID=$pid" "LISTEN_PID is the worker's own pid"
	assert_contains "$env" "LISTEN_FDS=1" "LISTEN_FDS"
	assert_contains "$env" "LISTEN_FDNAMES=default" "LISTEN_FDNAMES"
	assert_contains "$env" "CLUSTERD_GENERATION=1" "generation 1 at start"
	assert_contains "$env" "NOTIFY_SOCKET=@" "abstract NOTIFY_SOCKET"
	assert_contains "$env" "GREETING=hello world" "[worker] env"
	case $slot in 0|1) ;; *) fail "CLUSTERD_WORKER=$slot" ;; esac
	# What the worker had at exec: the reference worker reports the fds
	# it saw before opening its own (GET /env, "fds:" line) -- but any
	# slot may answer, so look at /proc: fds > 3 must be the worker's own
	# anon inodes (epoll, signalfd, timerfd), never a master's socket,
	# pipe or file.
	for fd in $(ls "/proc/$pid/fd"); do
		[ "$fd" -le 3 ] && continue
		target=$(readlink "/proc/$pid/fd/$fd")
		case $target in
		anon_inode:*) ;;
		*) fail "worker $pid has fd $fd -> $target from the master" ;;
		esac
	done
	assert_eq "$(readlink /proc/$pid/fd/0)" /dev/null "stdin is /dev/null"
	case $(readlink "/proc/$pid/fd/3") in socket:*) ;; *) fail "fd 3 is not a socket" ;; esac
done
env=$(http_get "http://127.0.0.1:$PORT/env")
assert_contains "$env" "fds: 0 1 2 3" "fds at exec (as the worker saw them)"
assert_eq "$(nchildren "$MASTER")" 2 "two workers"

kill -TERM "$MASTER"
wait "$MASTER"; rc=$?
assert_eq "$rc" 0 "master exit code after SIGTERM"
[ -e "$T/master.pid" ] && fail "pidfile left behind"
port_refused "$PORT" || fail "port still accepting after stop"

# workers = auto: one per CPU this process may use (the default: no
# workers key).
CONF=$T/auto.conf start_cluster ""
assert_eq "$(nchildren "$MASTER")" "$(nproc)" "workers = auto is nproc"
kill -TERM "$MASTER"; wait "$MASTER"
exit 0
