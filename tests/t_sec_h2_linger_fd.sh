#!/usr/bin/env bash
# Security H2: a local user (nobody) passes the master, on its
# NOTIFY_SOCKET, a TCP socket with SO_LINGER {1, 6 s} and megabytes of
# unsent data to a peer that never reads, then closes its own copy: the
# master's close would be the last one and wait out the linger time. The
# master must keep answering `status` (each within 1 s) the whole time,
# and the passed socket must not stay open in the master.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

need_nobody_python

LINGER=6
start_cluster 1
w=$(children "$MASTER" | head -1)
NS=$(notify_socket_of "$w")
# Sockets only: the master may open a pipe to hand fds to a closer thread.
nfds() { find "/proc/$MASTER/fd" -lname 'socket:*' | wc -l; }
fds0=$(nfds)

cat >"$T/linger.py" <<'EOP'
import array, socket, struct, sys, time
name, secs = sys.argv[1], int(sys.argv[2])
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
cli = socket.create_connection(srv.getsockname()); peer, _ = srv.accept()
cli.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, secs))
cli.setblocking(False); n = 0
try:
    while True: n += cli.send(b"x" * 65536)
except BlockingIOError: pass
u = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
u.sendmsg([b"FDSTORE=1"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                            array.array("i", [cli.fileno()]))], 0, "\0" + name[1:])
cli.close()                  # the master holds the last reference now
print("passed a socket with %d unsent bytes" % n, flush=True)
time.sleep(secs + 2)         # the peer stays open and never reads
EOP
$AS_NOBODY "$PY" - "$NS" "$LINGER" <"$T/linger.py" >"$T/linger.out" 2>&1 &
ATT=$!
track "$ATT"
passed() { grep -q "^passed" "$T/linger.out"; }
wait_until 10 passed || fail "attacker: $(cat "$T/linger.out")"
note "$(cat "$T/linger.out")"

# For the linger time and a bit: status answers, each within 1 s.
status_answers_for $(( (LINGER + 1) * 1000 )) "during the linger time"
note "$N status answers during the linger time, slowest $WORST ms"
fds_back() { [ "$(nfds)" -le "$fds0" ]; }
wait_until 3 fds_back || fail "master sockets $fds0 -> $(nfds): the passed one stays open"
kill "$ATT" 2>/dev/null
stop_master_clean
exit 0
