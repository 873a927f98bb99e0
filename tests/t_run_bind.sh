#!/usr/bin/env bash
# Bind errors are reported once, clearly, exit 4, before any worker runs:
# a port held by a plain listener, and one held by a SO_REUSEPORT listener
# (which a reuseport bind would silently share).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

for mode in plain reuseport; do
	PORT=$(free_port)
	python3 - "$PORT" "$mode" >"$T/holder.out" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.socket()
if sys.argv[2] == "reuseport":
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
print("listening", flush=True)
time.sleep(30)
EOF
	HOLDER=$!
	track "$HOLDER"
	wait_until 5 grep -q listening "$T/holder.out" || fail "holder did not start"
	cluster_app 2 "[listen]" "address = 127.0.0.1:$PORT"
	out=$("$CLUSTERD" run "$T/app.conf" 2>&1); rc=$?
	assert_eq "$rc" 4 "exit code with a taken port ($mode)"
	assert_contains "$out" "127.0.0.1:$PORT: bind: Address already in use" "message ($mode)"
	assert_not_contains "$out" "started pid" "no worker started ($mode)"
	[ -e "$T/master.pid" ] && fail "pidfile left ($mode)"
	kill "$HOLDER"; wait "$HOLDER" 2>/dev/null
done

# IPv6 and a unix socket serve too.
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
	PORT=$(free_port)
	CONF=$T/v6.conf start_cluster 2 "[listen]" "address = [::1]:$PORT"
	assert_eq "$(http_get "http://[::1]:$PORT/")" "hello world" "IPv6"
	kill -TERM "$MASTER"; wait "$MASTER"
fi
CONF=$T/unix.conf cluster_app 2 "[listen]" "address = unix:$T/app.sock"
# A stale socket where ours goes (bound, nobody accepts): replaced.
python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/app.sock"
run_cluster "$T/unix.conf"
wait_started
assert_eq "$(curl -s --max-time 5 --unix-socket "$T/app.sock" http://x/)" "hello world" "unix socket"
kill -TERM "$MASTER"; wait "$MASTER"
[ -e "$T/app.sock" ] && fail "unix socket file left after stop"
exit 0
