#!/usr/bin/env bash
# Bad admin clients: 200 connections at once (at most 64 served, the rest
# closed at accept), a 100 KiB header (431, then closed), a 9 KiB one
# (431), half a request (closed at ~5 s), one byte a second (closed at
# ~5 s all the same), garbage, POST /metrics (405). The cluster serves
# throughout, /livez answers after each, and the master's RSS stays flat.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
. "$(dirname "$0")/admin.sh"

ADMIN_PORT=$(free_port)
start_cluster 2 "[cluster]" "admin = 127.0.0.1:$ADMIN_PORT"
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$MASTER/status"; }
python3 "$ROOT/tests/load.py" --port "$PORT" --duration 1 --conc 2 >/dev/null
python3 "$ROOT/tests/load.py" --port "$PORT" --duration 45 --conc 2 --timeout 5 \
	--stop-file "$T/stop" >"$T/load.json" &
LOAD=$!

cat >"$T/bad.py" <<'PY'
import socket, sys, time, threading
port = int(sys.argv[1])
def conn():
    return socket.create_connection(("127.0.0.1", port), timeout=10)
def read_all(s, limit=10):
    s.settimeout(limit); out = b""; t = time.time()
    try:
        while True:
            d = s.recv(65536)
            if not d: return out, time.time() - t, "closed"
            out += d
    except socket.timeout: return out, time.time() - t, "open"
    except ConnectionResetError: return out, time.time() - t, "closed"
def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what); sys.stdout.flush()
    if not ok: sys.exit(1)
def livez():
    s = conn(); s.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    out, _, _ = read_all(s, 5)
    return out.startswith(b"HTTP/1.1 200") and out.endswith(b"ok\n")

# 200 at once: at most 64 are served, the others closed, none hangs.
socks = [conn() for _ in range(200)]
time.sleep(1)
served = closed = 0
for s in socks:
    try:
        s.settimeout(3)
        s.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        d = s.recv(200)
        if d.startswith(b"HTTP/1.1 200"): served += 1
        else: closed += 1
    except (socket.timeout,):
        check(False, "a connection hangs")
    except OSError:
        closed += 1
for s in socks: s.close()
check(0 < served <= 64 and served + closed == 200, "200 at once: %d served, %d closed" % (served, closed))
time.sleep(0.5)
check(livez(), "livez after 200 connections")

# Heads too large: 431, and the connection is closed.
for size in (100 * 1024, 9 * 1024):
    s = conn()
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n")
    except OSError:
        pass
    out, dt, state = read_all(s, 10)
    check(out.startswith(b"HTTP/1.1 431") and state == "closed", "%d KiB header: %r %s" % (size // 1024, out[:40], state))
s = conn()
s.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Ok: " + b"a" * 6000 + b"\r\n\r\n")
check(s.recv(100).startswith(b"HTTP/1.1 200"), "6 KB header served")
s.close()

# Half a request, and a slow drip: closed at about 5 s.
s = conn(); s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
out, dt, state = read_all(s, 12)
check(state == "closed" and 4.0 <= dt <= 8.0 and out == b"", "half a request closed after %.1fs" % dt)
s = conn(); t = time.time(); state = "open"
for c in b"GET /metrics HTTP/1.1\r\nHost: x\r\n":
    try:
        s.sendall(bytes([c]))
    except OSError:
        state = "closed"; break
    s.settimeout(1)
    try:
        if s.recv(100) == b"": state = "closed"; break
    except socket.timeout: pass
    except OSError: state = "closed"; break
    if time.time() - t > 12: break
dt = time.time() - t
check(state == "closed" and 4.0 <= dt <= 8.0, "drip closed after %.1fs (%s)" % (dt, state))

# Garbage: no answer but a close (or a 400), never a hang.
s = conn(); s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n")
out, dt, state = read_all(s, 12)
check(state == "closed" and (out == b"" or out.startswith(b"HTTP/1.1 400")), "garbage: %r after %.1fs" % (out[:30], dt))

# Another method: 405 with Allow.
s = conn(); s.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
out, dt, state = read_all(s, 10)
check(out.startswith(b"HTTP/1.1 405") and b"Allow: GET, HEAD" in out, "POST: %r" % out[:40])
check(livez(), "livez at the end")
PY
# Twice: the first round warms the allocator up, the second must not grow.
python3 "$T/bad.py" "$ADMIN_PORT" >"$T/bad.out" || fail "bad clients: $(cat "$T/bad.out")"
rss0=$(rss)
python3 "$T/bad.py" "$ADMIN_PORT" >"$T/bad.out" || fail "bad clients, again: $(cat "$T/bad.out")"
touch "$T/stop"
wait "$LOAD"
note "bad clients: $(tr '\n' ';' <"$T/bad.out")"
note "load meanwhile: $(cat "$T/load.json")"
assert_eq "$(load_field failed)" 0 "cluster requests failed during the bad clients"
[ "$(load_field ok)" -gt 50 ] || fail "cluster served too few: $(cat "$T/load.json")"
rss1=$(rss)
note "master RSS ${rss0} KiB after a first round, ${rss1} KiB after a second"
[ -n "$SAN" ] || [ "$rss1" -le $((rss0 + 256)) ] || fail "master RSS grew from $rss0 to $rss1 KiB"
assert_eq "$(ls "/proc/$MASTER/task" | wc -l)" 1 "master threads"
stop_master_clean
exit 0
