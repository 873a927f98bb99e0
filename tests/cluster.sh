# tests/cluster.sh - helpers for tests that run a whole cluster; sourced
# after lib.sh.
#
#   PORT=$(free_port); cluster_conf "$T/app.conf" <<EOF ... EOF
#   run_cluster "$T/app.conf"       # clusterd run in the background: $MASTER
#   wait_workers 2                  # until 2 workers are children, ready

# cluster_conf FILE: writes [cluster] with control/pidfile in $T, then the
# rest of the file from stdin (the test gives [listen] and [worker]).
cluster_conf() {
	{
		printf '[cluster]\nname = %s\ncontrol = %s/control.sock\npidfile = %s/master.pid\n' \
			"${NAME:-t$$}" "$T" "$T"
		[ -n "${WORKERS:-}" ] && printf 'workers = %s\n' "$WORKERS"
		cat
	} >"$1"
}

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

# slot_pid SLOT: the pid serving slot SLOT according to its own answer
# (tries a few connections; the kernel spreads them).
header_of() { tr -d '\r' | awk -v h="$1" 'tolower($1) == tolower(h) ":" { print $2 }'; }

# cpu_ticks PID: utime + stime of PID in clock ticks.
cpu_ticks() {
	local stat
	stat=$(cat "/proc/$1/stat") || return 1
	stat=${stat##*) }
	set -- $stat
	echo $(( ${12} + ${13} ))
}

# start_cluster [N]: the common case: N (default 2) reference workers,
# ready = notify, on a fresh port ($PORT), config in $T/app.conf, running
# under `clusterd run` ($MASTER) and started.
start_cluster() {
	PORT=$(free_port)
	WORKERS=${1:-2} cluster_conf "$T/app.conf" <<EOC
[listen]
address = 127.0.0.1:$PORT
[worker]
command = $WORKER
ready = notify
EOC
	run_cluster "$T/app.conf"
	wait_started
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
