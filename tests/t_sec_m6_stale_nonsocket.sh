#!/usr/bin/env bash
# M6: only a stale socket (a socket file nobody accepts on) at the control
# path or a unix: path is replaced. Anything else there (a typo such as
# `control = app.conf`) is refused with a clear error and left alone, by
# `run` and by `check`; a real stale socket is still replaced.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

PORT=$(free_port)
echo data >"$T/precious.txt"
echo data >"$T/precious2.txt"
conf() {	# conf FILE CONTROL ADDRESS
	cat >"$1" <<EOF
[cluster]
name = m6
control = $2
pidfile = $T/master.pid
workers = 1
[listen]
address = $3
[worker]
command = $WORKER
ready = notify
EOF
}
stale_socket() { python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$1"; }

# refused FILE WHAT: check exits 3 naming the path, run fails, nothing deleted.
refused() {
	local out rc
	out=$("$CLUSTERD" check "$1" 2>&1); rc=$?
	assert_eq "$rc" 3 "check $2: exit"
	assert_contains "$out" "exists and is not a socket" "check $2: message"
	out=$(timeout 10 "$CLUSTERD" run "$1" 2>&1); rc=$?
	[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "run $2: exit $rc: $out"
	assert_contains "$out" "exists and is not a socket; not replacing it" "run $2: message"
	assert_eq "$(cat "$T/precious.txt" "$T/precious2.txt")" "data
data" "files after $2"
}

conf "$T/a.conf" "$T/precious.txt" "127.0.0.1:$PORT"
refused "$T/a.conf" "control = a regular file"
conf "$T/b.conf" "$T/control.sock" "unix:$T/precious2.txt"
refused "$T/b.conf" "unix: a regular file"
ln -s "$T/precious.txt" "$T/link.sock"
conf "$T/c.conf" "$T/control.sock" "unix:$T/link.sock"
refused "$T/c.conf" "unix: a symlink"
[ -L "$T/link.sock" ] || fail "the symlink was deleted"

# Stale sockets at both paths: replaced, the cluster serves.
stale_socket "$T/control.sock"
stale_socket "$T/app.sock"
conf "$T/d.conf" "$T/control.sock" "unix:$T/app.sock"
out=$("$CLUSTERD" check "$T/d.conf" 2>&1) || fail "check with stale sockets: $out"
run_cluster "$T/d.conf"
wait_started
assert_eq "$(curl -s --max-time 5 --unix-socket "$T/app.sock" http://x/)" "hello world" "unix socket after a stale one"
"$CLUSTERD" status "$T/d.conf" >/dev/null || fail "status on the replaced control socket"
exit 0
