#!/usr/bin/env bash
# M4: during a reload the old and the new worker of a slot share its socket.
# An old worker that shutdown()s it on its way out (a common idiom to wake
# threads blocked in accept(); the worker contract forbids it) takes the
# socket out of listening for the new one too. When any worker of a slot
# exits the master checks the socket (SO_ACCEPTCONN) and listen()s it again:
# after the reload the port answers again within 5 s, served by the new
# generation. One slot, so no other reuseport member hides a dead socket;
# per-worker and shared sockets alike. A unix: socket cannot listen again
# once shut down: it is replaced, and its workers are renewed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

cat >"$T/w.py" <<'EOF'
import os, signal, socket, sys, time
s = socket.socket(fileno=3)
gen = os.environ["CLUSTERD_GENERATION"].encode()
def term(*a):
    s.shutdown(socket.SHUT_RDWR)
    os._exit(0)
signal.signal(signal.SIGTERM, term)
n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
addr = os.environ["NOTIFY_SOCKET"]
n.sendto(b"READY=1", "\0" + addr[1:] if addr[0] == "@" else addr)
while True:
    try:
        c, _ = s.accept()
    except OSError as e:
        print("accept: %r" % e, file=sys.stderr, flush=True)
        time.sleep(0.1)
        continue
    c.recv(4096)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(gen), gen))
    c.close()
EOF
# round SOCKETS: one cluster, one reload, the port must come back.
round() {
	PORT=$(free_port)
	WORKERS=1 cluster_conf "$T/app.conf" <<EOF
[listen]
address = 127.0.0.1:$PORT
sockets = $1
[worker]
command = python3 $T/w.py
ready = notify
stop_timeout = 5s
EOF
	run_cluster "$T/app.conf"
	wait_started
	assert_eq "$(http_get "http://127.0.0.1:$PORT/")" 1 "$1: generation 1 serves"

	kill -HUP "$MASTER"
	wait_until 10 master_log_has "reloaded: generation 2" ||
		fail "$1: reload: $(tail -5 "$T/master.log")"
	wait_until 5 master_log_has "(generation 1) exited" ||
		fail "$1: old worker did not exit"
	wait_until 5 gen2 ||
		fail "$1: port dead after the old worker shut the socket down: $(curl -s --max-time 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/") ($(tail -3 "$T/master.log"))"
	note "$1: generation 2 serves after generation 1 shut the socket down"
	kill -TERM "$MASTER"
	wait "$MASTER"
}
gen2() { [ "$(curl -s --max-time 1 "http://127.0.0.1:$PORT/")" = 2 ]; }
round per-worker
round shared

# unix: a socket shut down cannot listen again. The master replaces it and
# renews every worker that holds the dead one: the new path answers.
NAME=ux cluster_app 2 "command = python3 $T/w.py" "stop_timeout = 5s" \
	"[listen]" "address = unix:$T/app.sock"
run_cluster "$T/ux.conf"
wait_started
ux() { curl -s --max-time 1 --unix-socket "$T/app.sock" http://x/; }
assert_eq "$(ux)" 1 "unix: generation 1 serves"
kill -HUP "$MASTER"
wait_until 10 master_log_has "reloaded: generation 2" ||
	fail "unix: reload: $(tail -5 "$T/master.log")"
wait_until 5 master_log_has "(generation 1) exited" ||
	fail "unix: old worker did not exit"
uxgen2() { [ "$(ux)" = 2 ]; }
wait_until 5 uxgen2 ||
	fail "unix: socket dead after the old worker shut it down ($(tail -3 "$T/master.log"))"
master_log_has "renew: its socket was replaced" || fail "unix: no renew logged"
for i in 1 2 3 4 5 6; do assert_eq "$(ux)" 2 "unix: request $i"; done
note "unix: the replaced socket is served by renewed workers"
kill -TERM "$MASTER"
wait "$MASTER"
exit 0
