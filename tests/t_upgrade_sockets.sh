#!/usr/bin/env bash
# `sockets N` (what `clusterd restart` sends when the new file has fewer
# workers) waits while the old master drains the slots from N up; an
# upgrade in that wait carries the waiting client across execve, and the
# new image answers it once those slots' sockets are closed: slot 0's
# socket only, after the requests in flight on the drained slots were
# served.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
. "$(dirname "$0")/upgrade.sh"

upgrade_setup
start_cluster 3
install_bin "$NEXT"

# Slow requests on every worker (12 over 3 sockets: slots 1 and 2 both
# get none with a chance of (1/3)^12), so that their drain lasts 3 s.
SLOWS=()
for i in $(seq 12); do
	curl -s -o /dev/null -w '%{http_code}\n' --max-time 20 \
		"http://127.0.0.1:$PORT/slow?ms=3000" >>"$T/slow.codes" &
	SLOWS+=($!)
done
wait_until 5 eval '[ "$(conns_accepted $PORT)" -ge 12 ]' ||
	fail "slow requests not accepted: $(conns_accepted $PORT)"

# The client: asks `sockets 1`, then prints the answer's code, the fd
# lines and how many fds came with it, and when (ms since it asked).
python3 - "$T/control.sock" >"$T/answer" 2>"$T/client.err" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
t0 = time.monotonic()
s.sendall(b"clusterd/1 sockets 1\n")
data, fds = b"", []
while True:
    msg, got, _, _ = socket.recv_fds(s, 65536, 16)
    fds += got
    if not msg:
        break
    data += msg
ms = int((time.monotonic() - t0) * 1000)
text = data.decode()
print(text.split("\n")[0])
print(" ".join(l for l in text.split("\n") if l.startswith("fd ")))
print(len(fds))
print(ms)
EOF
CLIENT=$!
wait_until 5 master_log_has "sockets 1: slots 1 and up drain first" ||
	fail "the master did not drain first: $(tail -5 "$T/master.log")"
"$CLI" upgrade "$T/app.conf" >"$T/upgrade.out" 2>&1 ||
	fail "upgrade: $(cat "$T/upgrade.out")"
assert_contains "$(cat "$T/upgrade.out")" "-> $NEXT_VERSION (master $MASTER)" "upgrade during the wait"
alive "$CLIENT" || fail "answered before the upgrade: $(cat "$T/answer")"
wait "$CLIENT" || fail "client: $(cat "$T/client.err")"
wait "${SLOWS[@]}"
note "answer: $(tr '\n' ' ' <"$T/answer")"
{ read -r code; read -r names; read -r nfds; read -r ms; } <"$T/answer"
assert_eq "$code" 0 "answer code"
assert_eq "$names" "fd clusterd-default-0" "only slot 0's socket handed over"
assert_eq "$nfds" 1 "fds passed"
# Answered once the drained slots' workers were gone: after their
# "exited" lines in the log (the new image's), not before.
line_of() { grep -n -m1 -- "$1" "$T/master.log" | cut -d: -f1; }
handed=$(line_of "sockets (1 handed over")
for s in 1 2; do
	gone=$(line_of "slot $s: pid .* exited")
	[ -n "$gone" ] && [ -n "$handed" ] && [ "$gone" -lt "$handed" ] ||
		fail "slot $s not stopped before the answer: $(grep -n 'slot [12]: \|sockets' "$T/master.log")"
done
note "answered $ms ms after the request"
assert_eq "$(sort -u "$T/slow.codes")" 200 "every slow request served"
assert_eq "$(ss -lntH "( sport = :$PORT )" | wc -l)" 1 "one listening socket left"
assert_eq "$(http_get "http://127.0.0.1:$PORT/")" "hello world" "serves after"
stop_master_clean
exit 0
