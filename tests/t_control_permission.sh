#!/usr/bin/env bash
# Only root and the master's own user may use the control socket: it is
# 0600 in a 0700 directory, so another user fails at connect (a clear
# "permission denied", exit 4); and should the file modes be opened up, the
# master itself refuses the other uid (SO_PEERCRED), logs it, and the
# cluster is unaffected.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/daemon.sh"

[ "$(id -u)" = 0 ] || skip "needs root (to act as another user)"
command -v setpriv >/dev/null || skip "setpriv not installed"
id nobody >/dev/null 2>&1 || skip "no user nobody"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

chmod 755 "$T"	# nobody may reach $T/app.conf's directory, not run/
app_conf
chmod 644 "$CONF"
start_app
assert_eq "$RC" 0 "start: $(cat "$T/start.err")"
pids=$(js '" ".join(str(w["pid"]) for w in d["workers"])')
assert_eq "$(stat -c '%a %U' "$T/run/control.sock")" "600 root" "control socket mode and owner"
assert_eq "$(stat -c '%a %U' "$T/run")" "700 root" "runtime dir mode and owner"

for cmd in stop status reload "scale 1"; do
	set -- $cmd
	as_nobody "$CLUSTERD" -s "$T/run/control.sock" "$1" "$CONF" "${@:2}" >"$T/out" 2>&1
	assert_eq "$?" 4 "'$cmd' as nobody: $(cat "$T/out")"
	assert_contains "$(cat "$T/out")" "permission denied" "'$cmd' as nobody"
done
# Through FILE as well (the client reads only what it needs).
as_nobody "$CLUSTERD" stop "$CONF" >"$T/out" 2>&1
assert_eq "$?" 4 "stop FILE as nobody: $(cat "$T/out")"
assert_contains "$(cat "$T/out")" "permission denied" "stop FILE as nobody"

# Defence in depth: with the modes opened up, the master refuses the uid.
chmod 755 "$T/run"
chmod 666 "$T/run/control.sock"
as_nobody "$CLUSTERD" -s "$T/run/control.sock" stop "$CONF" >"$T/out" 2>&1
assert_eq "$?" 4 "stop as nobody through an open socket: $(cat "$T/out")"
assert_contains "$(cat "$T/out")" "permission denied: uid $(id -u nobody)" "server-side refusal"
wait_until 2 grep -q "control: refused pid [0-9]*, uid $(id -u nobody)" "$T/app.log" ||
	fail "refusal not logged"
chmod 700 "$T/run"
chmod 600 "$T/run/control.sock"

# Unaffected: same master, same workers, all ready, serving.
assert_eq "$(js 'd["master_pid"], d["ready"], d["state"]')" "$MASTER 2 running" "cluster after refusals"
assert_eq "$(js '" ".join(str(w["pid"]) for w in d["workers"])')" "$pids" "workers after refusals"
assert_eq "$(http_get "http://127.0.0.1:$PORT/")" "hello world" "served after refusals"
grep -q "stopping" "$T/app.log" && fail "the master started stopping"
"$CLUSTERD" stop "$CONF" >/dev/null || fail "stop as root"
wait_until 2 nothing_left || fail "processes left: $(leftovers)"
exit 0
