#!/usr/bin/env bash
# Many control clients at once, holding their connections without sending
# a request. 50: `status` is still served at once, the workers serve, a
# reload works; the idle ones are dropped after the 5 s request deadline.
# 100: beyond the connection cap the master refuses (an answer, not a
# hang): `status` is served or refused with a reason, the master keeps
# working, and once the idle clients are gone it serves `status` again.
# Afterwards the master holds as many fds as before.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

start_cluster 2
nfds() { ls "/proc/$MASTER/fd" | wc -l; }
fds0=$(nfds)

cat >"$T/hold.py" <<'EOF'
# hold.py SOCKET N SECONDS: open N connections, hold them, then report
# how each one ended: "answered CODE" lines summed, or "open".
import socket, sys, time, collections
path, n, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
conns = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.setblocking(False)
    conns.append(s)
print("connected %d" % n, flush=True)
end = time.monotonic() + secs
res = {}
while time.monotonic() < end and len(res) < n:
    for i, s in enumerate(conns):
        if i in res:
            continue
        try:
            d = s.recv(4096)
        except BlockingIOError:
            continue
        except OSError as e:
            res[i] = "error " + type(e).__name__
            continue
        res[i] = ("answered " + d.split(b"\n")[0].decode()) if d else "closed"
    time.sleep(0.05)
c = collections.Counter(res.get(i, "open") for i in range(n))
print("; ".join("%s: %d" % kv for kv in sorted(c.items())), flush=True)
EOF
SOCK=$T/control.sock

note "50 idle clients"
python3 "$T/hold.py" "$SOCK" 50 8 >"$T/hold50.out" 2>&1 &
H=$!
track "$H"
wait_until 5 grep -q "connected 50" "$T/hold50.out" || fail "hold: $(cat "$T/hold50.out")"
t0=$(now_ms)
out=$("$CLUSTERD" status "$T/app.conf" 2>&1) || fail "status with 50 idle clients: $out"
note "status answered in $(( $(now_ms) - t0 )) ms"
assert_contains "$out" "2/2 workers ready" "status with 50 idle clients"
http_ok "http://127.0.0.1:$PORT/" || fail "no answer with 50 idle clients"
kill -HUP "$MASTER"
wait_until 10 master_log_has "reloaded: generation 2," || fail "reload with 50 idle clients"
wait "$H"
note "50 idle clients: $(tail -1 "$T/hold50.out")"
assert_contains "$(tail -1 "$T/hold50.out")" "answered 2: 50" "idle clients dropped with a usage answer"

note "100 idle clients"
python3 "$T/hold.py" "$SOCK" 100 8 >"$T/hold100.out" 2>&1 &
H=$!
track "$H"
wait_until 5 grep -q "connected 100" "$T/hold100.out" || fail "hold: $(cat "$T/hold100.out")"
t0=$(now_ms)
out=$(timeout 10 "$CLUSTERD" status "$T/app.conf" 2>&1)
rc=$?
note "status with 100 idle clients: exit $rc in $(( $(now_ms) - t0 )) ms: $(echo "$out" | head -1)"
case $rc in
0) assert_contains "$out" "2/2 workers ready" "status" ;;
1) assert_contains "$out" "too many control connections" "refusal" ;;
*) fail "status with 100 idle clients: exit $rc: $out" ;;
esac
http_ok "http://127.0.0.1:$PORT/" || fail "no answer with 100 idle clients"
kill -HUP "$MASTER"
wait_until 10 master_log_has "reloaded: generation 3," || fail "reload with 100 idle clients"
wait "$H"
note "100 idle clients: $(tail -1 "$T/hold100.out")"
assert_not_contains "$(tail -1 "$T/hold100.out")" "open" "clients left hanging"
out=$("$CLUSTERD" status "$T/app.conf" 2>&1) || fail "status after: $out"
wait_until 5 eval "[ \$(nfds) -eq $fds0 ]" || fail "fds: $fds0 before, $(nfds) after"
kill -TERM "$MASTER"
wait "$MASTER"
assert_eq "$?" 0 "master exit status"
exit 0
