#!/usr/bin/env bash
# The control socket against misbehaving clients: garbage, a wrong protocol
# version, unknown commands, NUL bytes, a truncated request, 100 KB without
# a newline, a client that sends nothing (closed after 5 s), too many
# connections, two requests in one write. Each gets an error reply or is
# closed; the master keeps serving and still answers `status`.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/daemon.sh"

app_conf
start_app
assert_eq "$RC" 0 "start: $(cat "$T/start.err")"
pids=$(js '" ".join(str(w["pid"]) for w in d["workers"])')

cat >"$T/probe.py" <<'PY'
import socket, sys, time

path = sys.argv[1]
fails = []

def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s

def reply(s):
    data = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except (ConnectionResetError, socket.timeout) as e:
        data += b"<%s>" % type(e).__name__.encode()
    s.close()
    return data

def send(s, data):
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass

def expect(what, got, code, text):
    want = b"%d\n" % code
    if not got.startswith(want) or text.encode() not in got:
        fails.append("%s: got %r, want code %d and %r" % (what, got[:200], code, text))
    else:
        print("ok: %s: %r" % (what, got[:80]))

def req(data, shut=False):
    s = conn()
    send(s, data)
    if shut:
        s.shutdown(socket.SHUT_WR)
    return reply(s)

expect("garbage", req(b"hello there\n"), 2, "bad request")
expect("binary garbage", req(bytes(range(1, 256)) + b"\n"), 2, "bad request")
expect("wrong version", req(b"clusterd/2 status\n"), 2, "unsupported protocol version")
expect("no version", req(b"status\n"), 2, "bad request")
expect("unknown command", req(b"clusterd/1 frobnicate\n"), 2, "unknown request")
expect("extra argument", req(b"clusterd/1 stop later\n"), 2, "unknown request")
expect("scale without a number", req(b"clusterd/1 scale lots\n"), 2, "not N, +N or -N")
expect("NUL byte", req(b"clusterd/1 sto\0p\n"), 2, "bad request")
expect("truncated, write side shut", req(b"clusterd/1 status", shut=True), 2, "truncated")
# Truncated and gone: nothing to answer, the master just closes it.
s = conn(); send(s, b"clusterd/1 stop"); s.close()
expect("oversized", req(b"x" * 100000), 2, "too long")
expect("oversized line", req(b"clusterd/1 status " + b"a" * 600 + b"\n"), 2, "too long")
# A half-closed client still gets its answer (like `printf ... | socat`).
expect("half-closed status", req(b"clusterd/1 status json\n", shut=True), 0, '"master_pid"')
# CRLF is accepted.
expect("CRLF", req(b"clusterd/1 status json\r\n"), 0, '"workers"')
# Two requests in one write: only the first counts, the stop is ignored.
expect("pipelined", req(b"clusterd/1 status json\nclusterd/1 stop\n"), 0, '"master_pid"')

# Silent clients: closed after 5 s with an error; meanwhile others are served.
t0 = time.time()
silent = [conn() for _ in range(3)]
partial = conn(); send(partial, b"clusterd/1 sta")
expect("status beside silent clients", req(b"clusterd/1 status json\n"), 0, '"ready"')
if time.time() - t0 > 2:
    fails.append("status waited for silent clients")
for s in silent + [partial]:
    got = reply(s)
    expect("silent client", got, 2, "no request received in time")
dt = time.time() - t0
if not 4.5 <= dt <= 8:
    fails.append("silent clients closed after %.1f s, want ~5" % dt)
else:
    print("ok: silent clients closed after %.1f s" % dt)

# Too many connections: beyond 64 open ones, refused with a message.
held = [conn() for _ in range(64)]
expect("65th connection", req(b"clusterd/1 status\n"), 1, "too many control connections")
for s in held:
    s.close()
# Once the master has seen the closes it answers again (poll, 2 s at most).
deadline = time.time() + 2
while time.time() < deadline:
    got = req(b"clusterd/1 status json\n")
    if got.startswith(b"0\n"):
        break
expect("after many connections", got, 0, '"master_pid"')

for f in fails:
    print("FAIL: " + f)
sys.exit(1 if fails else 0)
PY
python3 "$T/probe.py" "$T/run/control.sock" >&2 || fail "protocol probe"

# The master is unaffected: same master and workers, all ready, serving.
assert_eq "$(js 'd["master_pid"], d["ready"], d["state"]')" "$MASTER 2 running" "cluster after the probes"
assert_eq "$(js '" ".join(str(w["pid"]) for w in d["workers"])')" "$pids" "workers after the probes"
assert_eq "$(http_get "http://127.0.0.1:$PORT/")" "hello world" "served after the probes"
grep -q "stopping" "$T/app.log" && fail "a probe stopped the master"
for m in "truncated request" "request longer than 511 bytes" "sent no request within 5s" \
	"not a clusterd request" "unknown request"; do
	grep -q "control: pid [0-9]*: $m\|control: pid [0-9]* $m" "$T/app.log" || fail "not logged: $m"
done
"$CLUSTERD" stop "$CONF" >/dev/null || fail "stop"
wait_until 2 nothing_left || fail "processes left: $(leftovers)"
exit 0
