#!/usr/bin/env bash
# L8, status side: no raw control character reaches a terminal through
# `status`. Text from outside the master (a worker's STATUS= and output
# lines, a unix: listener path with an escape sequence in it) shows as \xHH
# in the text output; --json escapes it as JSON does and round-trips it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

PORT=$(free_port)
EVIL=$(printf '%s/a\033[2J\033]0;pwned\007b.sock' "$T")
# A worker that says it is ready with a hostile STATUS=, and prints
# escape sequences on stdout and stderr.
cat >"$T/worker.py" <<'PY'
import os, signal, socket, sys
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
addr = os.environ["NOTIFY_SOCKET"]
if addr.startswith("@"):
    addr = "\0" + addr[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1\nSTATUS=\x1b[31mred\x07\x7f\x08", addr)
print("out \x1b[2J\x1b]0;pwned\x07 line", flush=True)
print("err \x1b[31m\r\x08 line", file=sys.stderr, flush=True)
while True:
    signal.pause()
PY
WORKERS=2 cluster_conf "$T/app.conf" <<EOF
[listen]
address = 127.0.0.1:$PORT
[listen evil]
address = unix:$EVIL
[worker]
command = python3 $T/worker.py
ready = notify
stop_timeout = 5s
EOF
run_cluster "$T/app.conf"
wait_started

# raw_controls FILE: the control bytes in FILE other than newline, as hex.
raw_controls() {
	python3 -c 'import sys
d = open(sys.argv[1], "rb").read()
print(" ".join("%02x" % b for b in d if (b < 0x20 and b != 0x0a) or b == 0x7f))' "$1"
}

"$CLUSTERD" status "$T/app.conf" >"$T/status.txt"
assert_eq "$?" 0 "status"
note "status: $(cat -v "$T/status.txt")"
assert_eq "$(raw_controls "$T/status.txt")" "" "raw control bytes in status text"
grep -qF 'listen: unix:'"$T"'/a\x1b[2J\x1b]0;pwned\x07b.sock (shared)' "$T/status.txt" ||
	fail "escaped listener line missing: $(cat -v "$T/status.txt")"
assert_eq "$(grep -Ec '^[01] +[0-9]+ +1 +ready ' "$T/status.txt")" 2 "two ready rows"

"$CLUSTERD" status "$T/app.conf" --json >"$T/status.json"
assert_eq "$?" 0 "status --json"
assert_eq "$(raw_controls "$T/status.json")" "" "raw control bytes in status --json"
python3 - "$T/status.json" "$EVIL" <<'PY' || fail "JSON does not round-trip the path"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["listen"][1] == "unix:" + sys.argv[2], d["listen"]
assert [w["state"] for w in d["workers"]] == ["ready", "ready"], d["workers"]
PY

kill -TERM "$MASTER"
wait_until 10 eval '! kill -0 "$MASTER" 2>/dev/null' || fail "master did not stop"
exit 0
