#!/usr/bin/env bash
# `clusterd start` detaches and returns only when every worker is ready (a
# request sent right after it succeeds); the daemon has no terminal, cwd /,
# stdin /dev/null, stdio in the log; the control socket is 0600 in a 0700
# directory; `status` shows N ready workers; `stop` returns 0 once the
# master is gone and leaves nothing (no process, pidfile or socket); stop
# again says "not running" and exits 0, status of a stopped cluster exits 1.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/daemon.sh"

WORKERS=3 app_conf
start_app
assert_eq "$RC" 0 "start exit code ($(cat "$T/start.err"))"
# The very first request after start returns must be served.
assert_eq "$(http_get "http://127.0.0.1:$PORT/")" "hello world" "request right after start"
assert_eq "$(cat "$T/start.out")" \
	"app: 3/3 workers ready on 127.0.0.1:$PORT (master $MASTER)" "start line"
[ -s "$T/start.err" ] && fail "start wrote to stderr: $(cat "$T/start.err")"

# The daemon: not a session leader, no controlling terminal, cwd /, stdin
# /dev/null, stdout and stderr to the log file.
stat=$(cat "/proc/$MASTER/stat"); stat=${stat##*) }
set -- $stat	# state ppid pgrp session tty_nr ...
[ "$4" != "$MASTER" ] || fail "master is a session leader"
[ "$4" != "$$" ] && [ "$4" != "$(_pgid $$)" ] || fail "master in the test's session"
assert_eq "$5" 0 "master tty_nr"
assert_eq "$(readlink "/proc/$MASTER/cwd")" / "master cwd"
assert_eq "$(readlink "/proc/$MASTER/fd/0")" /dev/null "master stdin"
assert_eq "$(readlink "/proc/$MASTER/fd/1")" "$T/app.log" "master stdout"
assert_eq "$(readlink "/proc/$MASTER/fd/2")" "$T/app.log" "master stderr"
assert_eq "$(awk '/^Umask/ { print $2 }' "/proc/$MASTER/status")" 0022 "master umask"

# Socket 0600 in a 0700 directory, pidfile with the master's pid.
assert_eq "$(stat -c %a "$T/run/control.sock")" 600 "control socket mode"
assert_eq "$(stat -c %a "$T/run")" 700 "runtime dir mode"
assert_eq "$(cat "$T/run/master.pid")" "$MASTER" "pidfile"

"$CLUSTERD" status "$CONF" >"$T/status.out" 2>&1 || fail "status: $(cat "$T/status.out")"
head -1 "$T/status.out" | grep -q "^app: master $MASTER, up .*, generation 1, 3/3 workers ready" ||
	fail "status header: $(head -1 "$T/status.out")"
assert_contains "$(cat "$T/status.out")" "listen: 127.0.0.1:$PORT" "status listen line"
assert_eq "$(grep -cE '^[0-2] +[0-9]+ +1 +ready .* yes ' "$T/status.out")" 3 \
	"ready rows in status: $(cat "$T/status.out")"

"$CLUSTERD" status "$CONF" --json >"$T/status.json" || fail "status --json failed"
python3 -m json.tool "$T/status.json" >/dev/null || fail "status --json is not JSON: $(cat "$T/status.json")"
assert_eq "$(wc -l <"$T/status.json")" 1 "status --json is one line"
assert_eq "$(js 'd["name"], d["master_pid"], d["generation"], d["listen"]')" \
	"app $MASTER 1 ['127.0.0.1:$PORT']" "status json header"
assert_eq "$(js '[(w["slot"], w["state"], w["generation"], w["receiving"], w["restarts"], w["last_exit"]) for w in d["workers"]]')" \
	"[(0, 'ready', 1, True, 0, None), (1, 'ready', 1, True, 0, None), (2, 'ready', 1, True, 0, None)]" \
	"status json workers"
assert_eq "$(js 'all(w["rss_bytes"] > 0 and w["uptime_s"] >= 0 for w in d["workers"])')" True "rss and uptime"
pids=$(js '" ".join(str(w["pid"]) for w in d["workers"])')
for p in $pids; do
	alive "$p" || fail "worker $p from status is not running"
	assert_eq "$(ps -o ppid= -p "$p" | tr -d ' ')" "$MASTER" "parent of worker $p"
done

t0=$(now_ms)
"$CLUSTERD" stop "$CONF" >"$T/stop.out" 2>&1
rc=$?
t1=$(now_ms)
assert_eq "$rc" 0 "stop exit code ($(cat "$T/stop.out"))"
grep -qE '^stopped in [0-9]+\.[0-9]s$' "$T/stop.out" || fail "stop output: $(cat "$T/stop.out")"
note "stop took $((t1 - t0)) ms"
# When stop returns, the master has exited: no pidfile, no socket, no process.
[ -e "$T/run/master.pid" ] && fail "pidfile left after stop"
[ -e "$T/run/control.sock" ] && fail "control socket left after stop"
wait_until 1 eval '! alive $MASTER' || fail "master $MASTER still running after stop"
for p in $pids; do alive "$p" && fail "worker $p still running after stop"; done
left=$(leftovers)
[ -z "$left" ] || fail "processes left after stop: $left"
port_refused "$PORT" || fail "port $PORT still open after stop"
grep -q "stopping: clusterd stop (pid" "$T/app.log" || fail "stop request not logged"

"$CLUSTERD" stop "$CONF" >"$T/stop2.out" 2>&1
assert_eq "$?" 0 "stop of a stopped cluster"
assert_contains "$(cat "$T/stop2.out")" "not running" "stop of a stopped cluster"
"$CLUSTERD" status "$CONF" >"$T/status2.out" 2>&1
assert_eq "$?" 1 "status of a stopped cluster"
assert_contains "$(cat "$T/status2.out")" "not running" "status of a stopped cluster"
"$CLUSTERD" scale "$CONF" 2 >/dev/null 2>&1
assert_eq "$?" 1 "scale of a stopped cluster"

# restart of a stopped cluster starts it.
"$CLUSTERD" restart "$CONF" >"$T/restart.out" 2>&1 || fail "restart: $(cat "$T/restart.out")"
MASTER2=$(cat "$T/run/master.pid") && track "$MASTER2"
assert_contains "$(cat "$T/restart.out")" "3/3 workers ready" "restart output"
[ "$MASTER2" != "$MASTER" ] || fail "restart kept the old master"
assert_eq "$(http_get "http://127.0.0.1:$PORT/")" "hello world" "request after restart"
# restart of a running cluster: a new master.
"$CLUSTERD" restart "$CONF" >"$T/restart2.out" 2>&1 || fail "restart: $(cat "$T/restart2.out")"
MASTER3=$(cat "$T/run/master.pid") && track "$MASTER3"
[ "$MASTER3" != "$MASTER2" ] || fail "restart kept the running master"
alive "$MASTER2" && fail "old master $MASTER2 survived restart"
assert_contains "$(cat "$T/restart2.out")" "stopped in" "restart output"
"$CLUSTERD" stop "$CONF" >/dev/null || fail "final stop"
nothing_left || fail "processes left: $(leftovers)"
exit 0
