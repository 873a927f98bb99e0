# tests/lib.sh - helpers sourced by every tests/t_*.sh.
#
# A test gets: ROOT, CLUSTERD, WORKER, a fresh temp dir $T (removed on exit),
# process tracking (bg_run / track, killed on exit: TERM, then KILL of the
# whole process group), on_exit hooks, free_port, wait_until (poll with a
# deadline, never a bare sleep), fail / skip / assert_*, small curl
# wrappers, and the config writer (cluster_conf; cluster_app for the common
# cluster). Exit codes: 0 pass, 1 fail, 77 skip.
#
# Example:
#   . "$(dirname "$0")/lib.sh"
#   port=$(free_port)
#   bg_run "$WORKER" --listen 127.0.0.1:$port >"$T/w.log" 2>&1
#   wait_until 5 http_ok "http://127.0.0.1:$port/" || fail "worker not up"
#   assert_eq "$(http_get http://127.0.0.1:$port/)" "hello world" "body"

set -u
set +m	# bg_run relies on background jobs staying in our process group

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# CLUSTERD_BIN / WORKER_BIN: test other builds (e.g. build/san/...).
CLUSTERD=${CLUSTERD_BIN:-$ROOT/clusterd}
WORKER=${WORKER_BIN:-$ROOT/clusterd-worker}
export CLUSTERD_TEST=1
# The reference worker's /env, /crash, /exit and /hang are off unless asked
# for; tests use them (workers inherit it through the master).
export CLUSTERD_WORKER_DEBUG=1
TEST_NAME=$(basename "$0" .sh)

T=$(mktemp -d "${TMPDIR:-/tmp}/clusterd-$TEST_NAME.XXXXXX") ||
	{ echo "FAIL: mktemp" >&2; exit 1; }

_TRACKED=()	# "pid:g" (kill its process group) or "pid:p" (kill the pid)
_ON_EXIT=()

# on_exit CMD: run CMD (with eval) at exit, before tracked processes are
# killed; hooks run in reverse order of registration.
on_exit() { _ON_EXIT+=("$1"); }

# track PID: kill PID at exit (its process group if it leads one).
track() {
	local pid mode=p pgid
	for pid in "$@"; do
		pgid=$(_pgid "$pid")
		[ "$pgid" = "$pid" ] && mode=g
		_TRACKED+=("$pid:$mode")
		# Lets tests/run clean up even if this shell is SIGKILLed.
		[ -n "${CLUSTERD_TEST_TRACK:-}" ] &&
			echo "$pid:$mode" >>"$CLUSTERD_TEST_TRACK"
	done
	return 0
}

# bg_run CMD...: start CMD in the background in its own session and process
# group (setsid); its pid is in $BG_PID and it is tracked. Redirect as for
# any command: bg_run "$WORKER" >"$T/log" 2>&1
bg_run() {
	setsid "$@" &
	BG_PID=$!
	# setsid(2) happens in the child after fork: wait (briefly) until it
	# leads its group, so that cleanup reaches everything it forks.
	local i
	for ((i = 0; i < 200; i++)); do
		[ "$(_pgid "$BG_PID")" = "$BG_PID" ] && break
		[ -d "/proc/$BG_PID" ] || break
		sleep 0.01
	done
	_TRACKED+=("$BG_PID:g")
	[ -n "${CLUSTERD_TEST_TRACK:-}" ] &&
		echo "$BG_PID:g" >>"$CLUSTERD_TEST_TRACK"
	return 0
}

_pgid() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }	# fields after "(comm) "
	set -- $stat
	echo "$3"
}

# alive PID: PID exists and is not a zombie.
alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# group_alive PGID: some non-zombie process is in process group PGID.
group_alive() {
	ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'
}

_tracked_alive() {
	local e pid mode
	for e in "${_TRACKED[@]}"; do
		pid=${e%:*} mode=${e#*:}
		if [ "$mode" = g ]; then group_alive "$pid" && return 0
		else alive "$pid" && return 0; fi
	done
	return 1
}

_signal_tracked() {
	local e pid mode
	for e in "${_TRACKED[@]}"; do
		pid=${e%:*} mode=${e#*:}
		if [ "$mode" = g ]; then kill "-$1" -- "-$pid" 2>/dev/null
		else kill "-$1" "$pid" 2>/dev/null; fi
	done
	return 0
}

_cleanup() {
	local rc=$? i
	trap - EXIT INT TERM HUP
	for ((i = ${#_ON_EXIT[@]} - 1; i >= 0; i--)); do
		eval "${_ON_EXIT[i]}" || true
	done
	if [ ${#_TRACKED[@]} -gt 0 ]; then
		_signal_tracked TERM
		wait_until 2 eval '! _tracked_alive' || _signal_tracked KILL
		_signal_tracked KILL	# stragglers that ignore TERM
		wait_until 2 eval '! _tracked_alive'
	fi
	local e
	for e in "${_TRACKED[@]}"; do wait "${e%:*}" 2>/dev/null; done
	if [ -n "${KEEP_TMP:-}" ]; then
		echo "kept $T" >&2
	else
		rm -rf "$T"
	fi
	exit "$rc"
}
trap _cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
# note MSG: progress line in the test's log.
note() { echo "# $*" >&2; }

# assert_eq ACTUAL EXPECTED MSG
assert_eq() {
	[ "$1" = "$2" ] || fail "${3:-assert_eq}: got '$1', expected '$2'"
}
# assert_contains HAYSTACK NEEDLE MSG
assert_contains() {
	case $1 in *"$2"*) ;; *) fail "${3:-assert_contains}: '$2' not in: $1" ;; esac
}
# assert_not_contains HAYSTACK NEEDLE MSG
assert_not_contains() {
	case $1 in *"$2"*) fail "${3:-assert_not_contains}: '$2' found in: $1" ;; esac
}

# free_port: a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# now_ms: monotonic-enough wall clock in milliseconds.
now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}

# wait_until SECONDS CMD...: run CMD every 50 ms until it succeeds (return 0)
# or SECONDS (may be fractional) have passed (return 1).
wait_until() {
	local secs=$1; shift
	local start now limit
	start=$(now_ms)
	limit=$(awk -v s="$secs" 'BEGIN { printf "%d", s * 1000 }')
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		now=$(now_ms)
		[ $((now - start)) -ge "$limit" ] && return 1
		sleep 0.05
	done
}

# http_get URL [curl args]: print the body.
http_get() { curl -s --max-time 5 "$@"; }
# http_headers URL [curl args]: print the response headers (CRs removed).
http_headers() { curl -s --max-time 5 -D - -o /dev/null "$@" | tr -d '\r'; }
# http_code URL: print the status code (000 when no answer).
http_code() { curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$@"; }
# http_ok URL: the server answers 2xx.
http_ok() { curl -sf --max-time 5 -o /dev/null "$@"; }
# port_refused PORT [HOST]: a TCP connect is refused right now.
port_refused() {
	! (exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null
}
# port_open PORT [HOST]: a TCP connect succeeds right now.
port_open() {
	(exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null
}

# conf_lines LINE...: print a config file made of LINEs, each a "[section]"
# header or a line of the section above it. A section named again is added
# to, not repeated; a key its section already has replaces that line where
# it stands (except env, which may repeat). So a caller's lines given after
# a set of defaults override or extend them:
#   conf_lines "[worker]" "command = a" "ready = notify" "[worker]" "command = b"
#   -> [worker] / command = b / ready = notify
conf_lines() {
	[ $# -gt 0 ] || return 0
	printf '%s\n' "$@" | awk '
	/^\[.*\]$/ { sec = $0; if (!(sec in n)) { order[++ns] = sec; n[sec] = 0 }; next }
	{
		if (!(sec in n)) { order[++ns] = sec; n[sec] = 0 }
		key = ""
		if ($0 ~ /^[a-z_]+[ \t]*=/) { key = $0; sub(/[ \t]*=.*/, "", key) }
		if (key != "" && key != "env")
			for (i = 1; i <= n[sec]; i++)
				if (k[sec, i] == key) { l[sec, i] = $0; next }
		i = ++n[sec]; l[sec, i] = $0; k[sec, i] = key
	}
	END {
		for (s = 1; s <= ns; s++) {
			if (order[s] != "") print order[s]
			for (i = 1; i <= n[order[s]]; i++) print l[order[s], i]
		}
	}'
}

# cluster_conf FILE [LINE...] <BODY: the one config writer. FILE gets
# [cluster] with name $NAME (default t$$), control and pidfile in $T and
# `workers = $WORKERS` when WORKERS is set, merged with the LINEs (see
# conf_lines), then BODY (stdin) as it is: a here-document with the
# sections the test spells out, or </dev/null.
cluster_conf() {
	local file=$1; shift
	{
		conf_lines "[cluster]" "name = ${NAME:-t$$}" \
			"control = $T/control.sock" "pidfile = $T/master.pid" \
			${WORKERS:+"workers = $WORKERS"} "$@"
		cat
	} >"$file"
}

# cluster_app [N] [LINE...]: the common cluster's config in $CONF (default
# $T/$NAME.conf, $T/app.conf without NAME): N workers (default 2; "" writes
# no workers key), a [listen] on 127.0.0.1:$PORT, a fresh port unless a
# LINE gives the address, and a [worker] running $WORKER with ready =
# notify. The LINEs, [worker] ones first, add to or override those (see
# conf_lines):
#   cluster_app 4 "restart_delay = 50ms" "[listen]" "sockets = per-worker"
cluster_app() {
	local n=2 a fresh=1
	if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]*$ ]]; then n=$1; shift; fi
	for a in "$@"; do [[ $a =~ ^address[[:space:]]*= ]] && fresh=""; done
	[ -n "$fresh" ] && PORT=$(free_port)
	WORKERS=$n cluster_conf "${CONF:-$T/${NAME:-app}.conf}" \
		"[listen]" "address = 127.0.0.1:${PORT-}" \
		"[worker]" "command = $WORKER" "ready = notify" "$@" </dev/null
}

# conns_accepted PORT: how many established connections to local PORT a
# process has accepted and read everything from (Recv-Q 0). A request
# "in flight" in a server shows up here; one still queued does not.
conns_accepted() {
	ss -tnpH state established "( sport = :$1 )" 2>/dev/null |
		awk '$1 == 0 && /users:/ { n++ } END { print n + 0 }'
}
