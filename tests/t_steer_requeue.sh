#!/usr/bin/env bash
# Connections already queued on a slot whose worker dies into a long
# backoff are not left waiting for it: the master replaces the slot's socket,
# and with net.ipv4.tcp_migrate_req = 1 the queued connections move to the
# healthy slot and are served; with 0 they are reset at once (a fast error
# instead of a wait as long as the backoff). Runs in its own network
# namespace so that it can set the sysctl without touching the host.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

[ "$(id -u)" = 0 ] || skip "needs root (network namespace)"
if [ -z "${IN_NETNS:-}" ]; then
	unshare -n true 2>/dev/null || skip "cannot create a network namespace"
	for m in ${NETNS_MODES:-1 0}; do
		IN_NETNS=$m unshare -n bash "$0" || exit 1
	done
	exit 0
fi
ip link set lo up
sysctl -qw net.ipv4.tcp_migrate_req="$IN_NETNS" || skip "no tcp_migrate_req"

start_cluster 2 \
	"command = /bin/sh -c 'if [ -e $T/crash ] && [ \"\$CLUSTERD_WORKER\" = 0 ]; then exit 3; fi; exec $WORKER'" \
	"restart_delay = 2s" "restart_delay_max = 30s"
victim=$(slot_pid 0)
kill -STOP "$victim"
# 40 clients: those hashed to slot 0 queue behind the frozen worker.
python3 - "$PORT" >"$T/clients.json" <<'EOF' &
import json, socket, sys, threading, time
port = int(sys.argv[1]); out = []
def one():
    t0 = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=8)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            d = s.recv(4096)
            if not d: break
            data += d
        r = "ok" if data.startswith(b"HTTP/1.1 200") else "bad"
    except ConnectionResetError: r = "reset"
    except socket.timeout: r = "timeout"
    except OSError as e: r = "error:%s" % e
    out.append((r, round((time.monotonic() - t0) * 1000)))
ts = [threading.Thread(target=one) for _ in range(40)]
for t in ts: t.start()
for t in ts: t.join()
print(json.dumps(out))
EOF
CLIENTS=$!
# Wait until some connections sit in slot 0's queue.
queued() { ss -ltn "( sport = :$PORT )" | awk 'NR > 1 && $2 > 0 { f = 1 } END { exit !f }'; }
wait_until 5 queued || fail "no connection queued behind the frozen worker"
touch "$T/crash"
t0=$(now_ms)
kill -9 "$victim"; kill -CONT "$victim" 2>/dev/null
wait "$CLIENTS"
dt=$(( $(now_ms) - t0 ))
res=$(cat "$T/clients.json")
summary=$(python3 -c 'import json,sys,collections; r=json.loads(sys.argv[1]); print(dict(collections.Counter(x[0] for x in r)), "max", max(x[1] for x in r), "ms")' "$res")
echo "tcp_migrate_req=$IN_NETNS: $summary; all clients done ${dt} ms after the kill" >&2
master_log_has "queued connection" || fail "no requeue logged: $(grep -E 'slot 0' "$T/master.log" | tail -5)"
# Nobody waits for the 2 s backoff: all answered (1) or reset (0) at once.
[ "$dt" -lt 1500 ] || fail "clients waited $dt ms"
if [ "$IN_NETNS" = 1 ]; then
	python3 -c 'import json,sys; r=json.loads(sys.argv[1]); assert all(x[0] == "ok" for x in r), r' "$res" ||
		fail "with tcp_migrate_req = 1 every queued connection must be served"
else
	python3 -c 'import json,sys; r=json.loads(sys.argv[1]); assert all(x[0] in ("ok", "reset") for x in r), r' "$res" ||
		fail "unexpected outcome"
fi
kill -TERM "$MASTER"; wait "$MASTER"
exit 0
