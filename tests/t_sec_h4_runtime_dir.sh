#!/usr/bin/env bash
# H4: the runtime directory and the log and pidfile opens cannot be hijacked
# by another local user. Victim V and attacker A are two unused uids; with
# XDG_RUNTIME_DIR unset V's runtime directory is /tmp/clusterd-V/NAME (this
# test's own uid, removed at exit).
# 1. A pre-creates /tmp/clusterd-V (0777): `run` refuses it (exit 4, the
#    owner named); so does `start`, and a log symlink A planted in it gets
#    nothing.
# 2. Without A, V's start creates both directories 0700 and V's own; one
#    that V left group-readable is refused.
# 3. As root in $T: a log that is a symlink is refused by `start` and by
#    `run`, a planted master.pid.tmp symlink is not followed (its target
#    stays intact), and after a SIGUSR1 the log is not reopened through a
#    symlink swapped in at its name.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

[ "$(id -u)" = 0 ] || skip "needs root (to act as two other users)"
command -v setpriv >/dev/null || skip "setpriv not installed"
unused_uid() {
	local u
	for u in $(seq $((42000 + $$ % 1000 + $1)) 7 $((43000 + $$ % 1000))); do
		getent passwd "$u" >/dev/null && continue
		[ -e "/tmp/clusterd-$u" ] && continue
		[ -z "$(ps -u "$u" -o pid= 2>/dev/null)" ] && { echo "$u"; return 0; }
	done
	return 1
}
V=$(unused_uid 0) || skip "no unused uid"
A=$(unused_uid 3) || skip "no unused uid"
[ -n "$V" ] && [ -n "$A" ] && [ "$A" != "$V" ] || skip "no two unused uids"
RT=/tmp/clusterd-$V
on_exit "rm -rf '$RT'"
as_v() { setpriv --reuid="$V" --regid="$V" --clear-groups env -u XDG_RUNTIME_DIR "$@"; }
as_a() { setpriv --reuid="$A" --regid="$A" --clear-groups "$@"; }
# No master may survive as V (the old code ran one).
on_exit 'p=$(ps -u "$V" -o pid= 2>/dev/null); [ -z "$p" ] || kill -KILL $p'

chmod 711 "$T"
mkdir -p "$T/pub"
chmod 755 "$T/pub"
PORT=$(free_port)
cat >"$T/pub/vapp.conf" <<EOC
[cluster]
name = vapp
workers = 1
[listen]
address = 127.0.0.1:$PORT
[worker]
command = $WORKER
ready = notify
ready_timeout = 5s
EOC
chmod 644 "$T/pub/vapp.conf"
echo "victim's own notes" >"$T/pub/notes.txt"
chown "$V:$V" "$T/pub/notes.txt"
chmod 600 "$T/pub/notes.txt"
notes0=$(cat "$T/pub/notes.txt")

note "1. the attacker owns /tmp/clusterd-$V"
as_a mkdir -m 0777 "$RT" || fail "attacker mkdir"
as_a chmod 0777 "$RT"
as_v timeout 5 "$CLUSTERD" run "$T/pub/vapp.conf" >"$T/run1.out" 2>&1
rc=$?
assert_eq "$rc" 4 "run in an attacker's directory: $(cat "$T/run1.out")"
assert_contains "$(cat "$T/run1.out")" "$RT: owned by uid $A" "run's error"
as_a mkdir -m 0777 "$RT/vapp" || fail "attacker mkdir"
as_a chmod 0777 "$RT/vapp"
as_a ln -s "$T/pub/notes.txt" "$RT/vapp/vapp.log" || fail "attacker ln"
as_v timeout 10 "$CLUSTERD" start "$T/pub/vapp.conf" >"$T/start1.out" 2>&1
rc=$?
[ -n "$(ps -u "$V" -o pid= 2>/dev/null)" ] && fail "a master runs as $V after start"
assert_eq "$rc" 4 "start in an attacker's directory: $(cat "$T/start1.out")"
assert_contains "$(cat "$T/start1.out")" "owned by uid $A" "start's error"
assert_eq "$(cat "$T/pub/notes.txt")" "$notes0" "the file the planted log symlink names"
rm -rf "$RT"

note "2. the victim's own directories"
as_v "$CLUSTERD" start "$T/pub/vapp.conf" >"$T/start2.out" 2>&1 ||
	fail "start: $(cat "$T/start2.out")"
MASTER=$(cat "$RT/vapp/master.pid") && track "$MASTER"
assert_eq "$(stat -c '%a %u' "$RT")" "700 $V" "$RT mode and owner"
assert_eq "$(stat -c '%a %u' "$RT/vapp")" "700 $V" "$RT/vapp mode and owner"
as_v "$CLUSTERD" stop "$T/pub/vapp.conf" >"$T/stop2.out" 2>&1 ||
	fail "stop: $(cat "$T/stop2.out")"
chmod 750 "$RT/vapp"
as_v timeout 10 "$CLUSTERD" run "$T/pub/vapp.conf" >"$T/run2.out" 2>&1
assert_eq "$?" 4 "run with a 0750 runtime directory: $(cat "$T/run2.out")"
assert_contains "$(cat "$T/run2.out")" "not private" "run's error"
rm -rf "$RT"

note "3. symlinks at the log's and the pidfile's names (root, in \$T)"
mkdir -m 0700 "$T/l" "$T/r"
echo precious >"$T/precious"
ln -s "$T/precious" "$T/l/app.log"
cluster_app "" "[cluster]" "log = $T/l/app.log" \
	"pidfile = $T/r/master.pid" "control = $T/r/control.sock"
timeout 10 "$CLUSTERD" start "$T/app.conf" >"$T/start3.out" 2>&1
rc=$?
[ -s "$T/r/master.pid" ] && track "$(cat "$T/r/master.pid")"
assert_eq "$rc" 4 "start with a symlinked log: $(cat "$T/start3.out")"
timeout 10 "$CLUSTERD" run "$T/app.conf" >"$T/run3.out" 2>&1
assert_eq "$?" 4 "run with a symlinked log: $(cat "$T/run3.out")"
assert_eq "$(cat "$T/precious")" precious "the symlinked log's target"
rm "$T/l/app.log"

echo precious >"$T/precious2"
ln -s "$T/precious2" "$T/r/master.pid.tmp"
run_cluster "$T/app.conf"
wait_until 10 grep -q "workers ready on" "$T/l/app.log" ||
	fail "no start: $(cat "$T/master.log"; tail -5 "$T/l/app.log")"
assert_eq "$(cat "$T/precious2")" precious "the planted master.pid.tmp symlink's target"
[ -L "$T/r/master.pid" ] && fail "the pidfile is the planted symlink"
assert_eq "$(cat "$T/r/master.pid")" "$MASTER" "pidfile"

echo precious >"$T/precious3"
mv "$T/l/app.log" "$T/l/app.log.1"
ln -s "$T/precious3" "$T/l/app.log"
kill -USR1 "$MASTER"
wait_until 5 grep -q "cannot reopen the log" "$T/l/app.log.1" ||
	fail "no reopen failure logged: $(tail -3 "$T/l/app.log.1")"
kill -TTIN "$MASTER"	# something to log
wait_until 5 grep -q "scaling" "$T/l/app.log.1" ||
	fail "nothing logged after SIGUSR1: $(tail -3 "$T/l/app.log.1")"
assert_eq "$(cat "$T/precious3")" precious "the symlink swapped in at the log's name"
kill -TERM "$MASTER"
wait "$MASTER"
assert_eq "$?" 0 "master exit status"
exit 0
