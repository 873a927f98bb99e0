#!/usr/bin/env bash
# A worker damages its slot's socket and keeps running (a tiny Python
# worker does it on request): shutdown() of fd 3 (the socket leaves the
# reuseport group: the other slot takes every connection), close() of fd 3,
# O_NONBLOCK on fd 3 (it sticks to the open file) and exit. When the worker
# is gone, the slot's next worker gets a socket that listens and blocks
# (listen_repair), and the cluster serves on both slots again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

cat >"$T/w.py" <<'EOF'
import fcntl, os, signal, socket, sys, time
slot = os.environ["CLUSTERD_WORKER"]
if fcntl.fcntl(3, fcntl.F_GETFL) & os.O_NONBLOCK:
    print("fd 3 is non-blocking", file=sys.stderr, flush=True)
    sys.exit(3)
s = socket.socket(fileno=3)
if not s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
    print("fd 3 does not listen", file=sys.stderr, flush=True)
    sys.exit(4)
signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
addr = os.environ["NOTIFY_SOCKET"]
n.sendto(b"READY=1", "\0" + addr[1:] if addr[0] == "@" else addr)
while True:
    c, _ = s.accept()
    req = c.recv(4096).decode(errors="replace")
    path = req.split(" ")[1] if " " in req else "/"
    action = "-"
    parts = path.split("/")          # /break/MODE/SLOT
    if len(parts) == 4 and parts[1] == "break" and parts[3] == slot:
        action = parts[2]
    body = "slot %s pid %d %s\n" % (slot, os.getpid(), action)
    c.sendall(("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Worker-Slot: %s\r\n"
               "X-Worker-Pid: %d\r\nX-Action: %s\r\nConnection: close\r\n\r\n%s"
               % (len(body), slot, os.getpid(), action, body)).encode())
    c.close()
    if action == "shutdown":
        s.shutdown(socket.SHUT_RDWR)
    elif action == "close":
        s.close()
    elif action == "nonblock":
        fl = fcntl.fcntl(3, fcntl.F_GETFL)
        fcntl.fcntl(3, fcntl.F_SETFL, fl | os.O_NONBLOCK)
        sys.exit(0)
    if action in ("shutdown", "close"):
        print("fd 3 damaged (%s), still running" % action, file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)
EOF
start_cluster 2 "[listen]" "sockets = per-worker" \
	"[worker]" "command = python3 $T/w.py" "ready_timeout = 10s" "restart_delay = 50ms"

# serves_both: 40 requests, every one answered within 2 s, both slots seen.
serves_both() {
	local i s seen0=0 seen1=0
	for i in $(seq 40); do
		s=$(http_headers --max-time 2 "http://127.0.0.1:$PORT/" | header_of X-Worker-Slot)
		case $s in
		0) seen0=1 ;;
		1) seen1=1 ;;
		*) echo "request $i: no answer" >&2; return 1 ;;
		esac
	done
	[ $seen0 = 1 ] && [ $seen1 = 1 ]
}

serves_both || fail "the cluster does not serve on both slots at start"
for mode in shutdown close nonblock; do
	note "mode: $mode"
	victim=$(slot_pid 0) || fail "$mode: no worker in slot 0"
	done_=""
	for i in $(seq 100); do
		a=$(http_headers --max-time 2 "http://127.0.0.1:$PORT/break/$mode/0" | header_of X-Action)
		[ "$a" = "$mode" ] && { done_=1; break; }
	done
	[ -n "$done_" ] || fail "$mode: slot 0 never got the request"
	if [ "$mode" != nonblock ]; then
		wait_until 5 grep -q "slot 0 pid $victim: fd 3 damaged ($mode)" "$T/master.log" ||
			fail "$mode: worker did not report"
		alive "$victim" || fail "$mode: the worker should still run"
	fi
	if [ "$mode" = shutdown ]; then
		# Out of the reuseport group: slot 1 takes every connection.
		for i in $(seq 20); do
			s=$(http_headers --max-time 2 "http://127.0.0.1:$PORT/" | header_of X-Worker-Slot)
			assert_eq "$s" 1 "$mode: request $i while slot 0's socket is shut down"
		done
		kill -TERM "$victim"
	elif [ "$mode" = close ]; then
		kill -TERM "$victim"
	fi
	wait_until 5 grep -q "pid $victim (generation 1) exited" "$T/master.log" ||
		fail "$mode: worker $victim did not exit"
	wait_until 5 eval "p=\$(slot_pid 0) && [ \"\$p\" != $victim ] && grep -q \"slot 0: pid \$p ready\" '$T/master.log'" ||
		fail "$mode: no new worker ready in slot 0: $(tail -5 "$T/master.log")"
	grep -q "fd 3 is non-blocking\|fd 3 does not listen" "$T/master.log" &&
		fail "$mode: the new worker got a damaged socket: $(grep 'fd 3 is\|fd 3 does' "$T/master.log" | head -3)"
	serves_both || fail "$mode: the cluster does not serve on both slots after the repair"
done
stop_master
exit 0
