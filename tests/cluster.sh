# tests/cluster.sh - helpers for tests that run a whole cluster; sourced
# after lib.sh.
#
#   start_cluster 2 "restart_delay = 50ms"   # config (lib.sh cluster_app),
#                                   # clusterd run ($MASTER), all ready
#   load_field ok                   # a field of tests/load.py's answer
#   stop_master_clean               # SIGTERM, exit 0, no sanitizer report
# Configs of another shape: cluster_conf FILE <<EOF (lib.sh), run_cluster
# FILE, wait_started.

# run_cluster FILE [clusterd args]: `clusterd run FILE` in the background,
# output in $T/master.log, pid in $MASTER.
run_cluster() {
	bg_run "$CLUSTERD" run "$@" >"$T/master.log" 2>&1
	MASTER=$BG_PID
}

# children PID: the pids of PID's children.
children() { ps --ppid "$1" -o pid= 2>/dev/null | tr -d ' '; }
nchildren() { children "$1" | grep -c .; }

# master_log_has TEXT
master_log_has() { grep -q -- "$1" "$T/master.log"; }

# wait_started: until the master logs that every worker is ready.
wait_started() {
	wait_until "${1:-10}" master_log_has "workers ready on" ||
		fail "cluster did not start: $(tail -20 "$T/master.log")"
}

# header_of NAME: the value of header NAME in the response headers on
# stdin (as http_headers prints them).
header_of() { tr -d '\r' | awk -v h="$1" 'tolower($1) == tolower(h) ":" { print $2 }'; }

# cpu_ticks PID: utime + stime of PID in clock ticks.
cpu_ticks() {
	local stat
	stat=$(cat "/proc/$1/stat") || return 1
	stat=${stat##*) }
	set -- $stat
	echo $(( ${12} + ${13} ))
}

# start_cluster [N] [LINE...]: the common case: the config cluster_app
# writes (N reference workers, default 2, ready = notify, on $PORT, in
# $CONF or $T/app.conf; LINEs add to it), running under `clusterd run`
# ($MASTER) and started.
start_cluster() {
	cluster_app "$@"
	run_cluster "${CONF:-$T/${NAME:-app}.conf}"
	wait_started
}

# load_field FIELD [FILE]: FIELD of the JSON tests/load.py printed into FILE
# (default $T/load.json); a list (pids, slots) as its length.
load_field() {
	python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))[sys.argv[2]]
print(len(v) if isinstance(v, list) else v)' "${2:-$T/load.json}" "$1"
}

# stop_master [MSG]: SIGTERM to $MASTER, which must exit 0.
stop_master() {
	kill -TERM "$MASTER"
	wait "$MASTER"
	assert_eq "$?" 0 "${1:-master exit status}"
}

# stop_master_clean: stop_master, and no sanitizer report in $T/master.log
# (under ASan a leak also makes the exit status non-zero).
stop_master_clean() {
	stop_master "master exit status (under ASan: non-zero on a leak)"
	grep -q 'LeakSanitizer\|AddressSanitizer\|UndefinedBehaviorSanitizer' "$T/master.log" &&
		fail "sanitizer report: $(grep -A10 -m1 Sanitizer "$T/master.log")"
	return 0
}

# slot_pid SLOT: the master's child serving SLOT (from its environment).
slot_pid() {
	local p
	for p in $(children "$MASTER"); do
		tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null |
			grep -qx "CLUSTERD_WORKER=$1" && { echo "$p"; return 0; }
	done
	return 1
}

# SAN=1 when the clusterd under test is an ASan build: its RSS grows by
# design (quarantine, shadow memory), so leak tests let LeakSanitizer judge
# the master's exit instead of comparing RSS.
sanitized() {
	ldd "$1" 2>/dev/null | grep -q 'libasan' ||
		nm "$1" 2>/dev/null | grep -q ' __asan_init$'
}
SAN=""
sanitized "$(readlink -f "$CLUSTERD")" && SAN=1

# need_nobody_python: skip unless root can act as `nobody` with a python3
# it may run (a pyenv shim under /root is not one): sets AS_NOBODY (the
# setpriv prefix) and PY. Scripts come on stdin, $T is ours only.
need_nobody_python() {
	local p
	command -v setpriv >/dev/null || skip "setpriv missing"
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	[ "$(id -u)" = 0 ] || skip "needs root (a second uid)"
	AS_NOBODY="setpriv --reuid=nobody --regid=nogroup --clear-groups"
	PY=
	for p in /usr/bin/python3 /usr/local/bin/python3 "$(command -v python3)"; do
		$AS_NOBODY "$p" -c '' 2>/dev/null && { PY=$p; break; }
	done
	[ -n "$PY" ] || skip "no python3 that nobody can run"
}

# notify_socket_of PID: the NOTIFY_SOCKET a worker was given.
notify_socket_of() { tr '\0' '\n' <"/proc/$1/environ" | sed -n 's/^NOTIFY_SOCKET=//p'; }

# status_answers_for MS WHAT: `status` asked back to back for MS ms, each
# answer within 1 s, else fail naming WHAT; sets N (answers) and WORST (ms).
status_answers_for() {
	local t_end=$(( $(now_ms) + $1 )) t0 dt
	N=0 WORST=0
	while [ "$(now_ms)" -lt "$t_end" ]; do
		t0=$(now_ms)
		timeout 1 "$CLUSTERD" status "$T/app.conf" >"$T/st" 2>&1 ||
			fail "status got no answer within 1 s $2 (master wchan: $(cat "/proc/$MASTER/wchan" 2>/dev/null))"
		dt=$(( $(now_ms) - t0 ))
		[ "$dt" -gt "$WORST" ] && WORST=$dt
		N=$((N + 1))
	done
}
