#!/usr/bin/env bash
# H4, CLI side: the CLI talks only to a master that runs as root or as the
# CLI's own user (SO_PEERCRED of the server). A fake master owned by another
# user, listening on the control path the CLI uses (a runtime dir someone
# else created), is refused with a clear error and exit 4: `stop` does not
# print "stopped" nor exit 0, `status` prints none of its text. The same
# fake run as the CLI's own uid (or root) is believed, so the check is by
# uid and this test can fail.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (to act as another user)"
command -v setpriv >/dev/null || skip "setpriv not installed"
id nobody >/dev/null 2>&1 || skip "no user nobody"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
# A python3 that nobody may run (root's may sit in root's home).
PY=""
for p in /usr/bin/python3 /usr/local/bin/python3 "$(command -v python3)"; do
	as_nobody "$p" -c "" 2>/dev/null && { PY=$p; break; }
done
[ -n "$PY" ] || skip "no python3 that nobody may run"

# The attacker's directory, on the path the victim's FILE names.
chmod 755 "$T"
mkdir -m 0777 "$T/pub" "$T/own"
chown nobody "$T/pub"
cat >"$T/app.conf" <<CONF
[cluster]
name = vapp
control = $T/pub/control.sock
pidfile = $T/pub/master.pid
[listen]
address = 127.0.0.1:$(free_port)
[worker]
command = $WORKER
CONF

cat >"$T/fake.py" <<'PY'
import os, socket, sys
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.chmod(path, 0o777)
s.listen(8)
while True:
    c, _ = s.accept()
    try:
        req = c.recv(512)
        if b"stop" in req:
            c.sendall(b"0\nstopped in 0.1s\n")
        else:
            c.sendall(b"0\nvapp: master 1, up 9d, generation 1, FAKE ANSWER\n")
    except OSError:
        pass	# a client that hung up on us
    c.close()
PY

# fake_at PATH [RUNNER...]: a fake master on PATH, run by RUNNER.
fake_at() {
	local path=$1; shift
	bg_run "$@" "$PY" "$T/fake.py" "$path" >>"$T/fake.log" 2>&1
	wait_until 5 test -S "$path" ||
		fail "fake master on $path did not start: $(cat "$T/fake.log")"
}

fake_at "$T/pub/control.sock" setpriv --reuid=nobody --regid=nogroup --clear-groups
nobody_uid=$(id -u nobody)

"$CLUSTERD" stop "$T/app.conf" >"$T/out" 2>"$T/err"; rc=$?
note "stop: rc $rc, out: $(cat "$T/out"), err: $(cat "$T/err")"
assert_not_contains "$(cat "$T/out" "$T/err")" "stopped" "stop believed the fake"
assert_eq "$rc" 4 "stop against another user's fake master"
assert_contains "$(cat "$T/err")" "uid $nobody_uid" "the error names the uid"
assert_contains "$(cat "$T/err")" "not a master of ours" "the error says why"

for cmd in status "status --json" reload "scale 2"; do
	set -- $cmd
	"$CLUSTERD" "$1" "$T/app.conf" "${@:2}" >"$T/out" 2>"$T/err"; rc=$?
	assert_not_contains "$(cat "$T/out" "$T/err")" "FAKE ANSWER" "'$cmd' printed the fake's text"
	assert_eq "$rc" 4 "'$cmd' against the fake: $(cat "$T/err")"
done
"$CLUSTERD" -s "$T/pub/control.sock" stop >"$T/out" 2>&1; rc=$?
assert_eq "$rc" 4 "stop -s against the fake: $(cat "$T/out")"

# The same fake as root (the CLI's own uid here) is a master it believes:
# the refusal above was the uid check, not a broken fake.
fake_at "$T/own/control.sock"
"$CLUSTERD" -s "$T/own/control.sock" stop >"$T/out" 2>&1; rc=$?
assert_eq "$rc $(cat "$T/out")" "0 stopped in 0.1s" "stop against a root-owned server"
# And the user nobody believes its own server.
as_nobody "$CLUSTERD" -s "$T/pub/control.sock" status >"$T/out" 2>&1; rc=$?
assert_eq "$rc" 0 "nobody's CLI to nobody's server: $(cat "$T/out")"
assert_contains "$(cat "$T/out")" "FAKE ANSWER" "nobody's CLI prints its own server's answer"
exit 0
