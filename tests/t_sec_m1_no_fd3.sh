#!/usr/bin/env bash
# M1: scale 4 -> 2 closes the sockets of slots 2 and 3 as their workers go;
# slot 2's goes first (slot 3's worker takes 1 s to exit on TERM), which
# left a hole below the last socket, and scale 2 -> 4 then opened only the
# slots above it: the new slot 2 worker started with no fd 3 at all. Every
# slot's worker must get a listening socket at fd 3, the first time.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

cat >"$T/w.py" <<'EOF'
import os, signal, socket, sys, time
slot = int(os.environ["CLUSTERD_WORKER"])
try:
    s = socket.socket(fileno=3)
    ok = s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    print("fd3 slot %d: listening=%d" % (slot, ok), file=sys.stderr, flush=True)
    s.detach()
except OSError as e:
    print("fd3 slot %d: BROKEN %r" % (slot, e), file=sys.stderr, flush=True)
def term(*a):
    time.sleep(1.0 if slot == 3 else 0)
    os._exit(0)
signal.signal(signal.SIGTERM, term)
n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
addr = os.environ["NOTIFY_SOCKET"]
n.sendto(b"READY=1", "\0" + addr[1:] if addr[0] == "@" else addr)
while True:
    time.sleep(1000)
EOF
PORT=$(free_port)
WORKERS=4 cluster_conf "$T/app.conf" <<EOF
[listen]
address = 127.0.0.1:$PORT
[worker]
command = python3 $T/w.py
ready = notify
EOF
run_cluster "$T/app.conf"
wait_started
exited() { [ "$(grep -c -E "slot [23]: pid [0-9]+ \(generation 1\) exited" "$T/master.log")" = 2 ]; }

"$CLUSTERD" scale "$T/app.conf" 2 >/dev/null || fail "scale 2"
wait_until 10 exited || fail "slots 2 and 3 did not exit: $(tail -5 "$T/master.log")"
"$CLUSTERD" scale "$T/app.conf" 4 >/dev/null || fail "scale 4"
both() { [ "$(grep -c 'fd3 slot [23]:' "$T/master.log")" -ge 4 ]; }
wait_until 10 both || fail "slots 2 and 3 did not start again: $(tail -5 "$T/master.log")"
grep -q 'BROKEN' "$T/master.log" &&
	fail "a worker started without a socket: $(grep BROKEN "$T/master.log" | head -1)"
for s in 0 1 2 3; do
	p=$(slot_pid "$s") || fail "no slot $s worker"
	case $(readlink "/proc/$p/fd/3") in
	socket:*) ;;
	*) fail "slot $s (pid $p): fd 3 is $(readlink "/proc/$p/fd/3" || echo missing)" ;;
	esac
done
n=$(grep -c 'fd3 slot [0-3]: listening=1' "$T/master.log")
assert_eq "$n" 6 "workers started with a listening fd 3"
exit 0
