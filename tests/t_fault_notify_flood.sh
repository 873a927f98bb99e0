#!/usr/bin/env bash
# The master's NOTIFY_SOCKET flooded with 100,000 datagrams from a process
# that is not a worker: spoofed READY=1/STATUS=, garbage, oversized
# messages, messages carrying file descriptors. Warned at most once per
# kind per 10 s; the master answers `status` and serves during the flood
# and after; passed fds are closed (fd count unchanged), memory does not
# grow (RSS within +1 MiB), no worker's state changes, and a reload still
# works.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

# Under ASan the RSS says nothing: LeakSanitizer checks the master at its
# exit instead of the RSS comparison ($SAN, from cluster.sh).

start_cluster 2
w=$(children "$MASTER" | head -1)
NS=$(notify_socket_of "$w")
case $NS in @*) ;; *) fail "NOTIFY_SOCKET '$NS' is not abstract" ;; esac
nfds() { ls "/proc/$MASTER/fd" | wc -l; }
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$MASTER/status"; }
fds0=$(nfds)
rss0=$(rss)
"$CLUSTERD" status "$T/app.conf" --json >"$T/st0" || fail "status before"

cat >"$T/flood.py" <<'EOF'
import os, socket, sys, time
name, count = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.settimeout(10)
addr = "\0" + name[1:]
r, w = os.pipe()
big = b"STATUS=" + b"x" * 8192
sent = errors = 0
t0 = time.monotonic()
for i in range(count):
    try:
        k = i % 100
        if k == 0:
            s.sendmsg([b"BARRIER=1"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                       bytes(memoryview(bytearray(
                                           r.to_bytes(4, sys.byteorder) +
                                           w.to_bytes(4, sys.byteorder)))))], 0, addr)
        elif k < 5:
            s.sendto(b"\0\1garbage", addr)
        elif k < 9:
            s.sendto(big, addr)
        else:
            s.sendto(b"READY=1\nSTATUS=spoofed %d\nWATCHDOG=1" % i, addr)
        sent += 1
    except OSError as e:
        errors += 1
        if errors > 100:
            break
print("sent %d errors %d in %.1fs" % (sent, errors, time.monotonic() - t0), flush=True)
EOF
python3 "$T/flood.py" "$NS" 100000 >"$T/flood.out" 2>&1 &
FLOOD=$!
track "$FLOOD"
# During the flood: status and HTTP answer, each within 2 s.
n=0 worst=0
while alive "$FLOOD"; do
	t0=$(now_ms)
	timeout 2 "$CLUSTERD" status "$T/app.conf" >"$T/st" 2>&1 ||
		fail "status during the flood: $(cat "$T/st")"
	http_ok --max-time 2 "http://127.0.0.1:$PORT/" || fail "no answer during the flood"
	dt=$(( $(now_ms) - t0 ))
	[ "$dt" -gt "$worst" ] && worst=$dt
	n=$((n + 1))
	[ "$n" -gt 600 ] && fail "the flood does not end"
	sleep 0.1
done
wait "$FLOOD"
note "flood: $(cat "$T/flood.out"); $n status+HTTP checks during it, slowest $worst ms"
assert_contains "$(cat "$T/flood.out")" "sent 100000 errors 0" "flood"
[ "$n" -ge 1 ] || fail "no check ran during the flood"

# The master has read everything: its queue is empty once a status answers.
"$CLUSTERD" status "$T/app.conf" --json >"$T/st1" || fail "status after"
fds1=$(nfds)
rss1=$(rss)
note "master fds $fds0 -> $fds1, RSS $rss0 -> $rss1 KiB"
assert_eq "$fds1" "$fds0" "master fd count (passed fds must be closed)"
if [ -z "$SAN" ]; then
	[ $((rss1 - rss0)) -le 1024 ] || fail "master RSS grew by $((rss1 - rss0)) KiB"
else
	note "ASan build: RSS not compared; LeakSanitizer checks at exit"
fi
# Warnings are rate-limited per kind (one per 10 s each): every kind of
# junk is reported, none floods the log.
secs=$(sed -n 's/.* in \([0-9]*\)\.[0-9]*s$/\1/p' "$T/flood.out")
for kind in "malformed message" "oversized message" "not a worker"; do
	nlog=$(grep -c "notify: .*$kind" "$T/master.log")
	[ "$nlog" -ge 1 ] || fail "no notify warning for: $kind"
	[ "$nlog" -le $((secs / 10 + 2)) ] ||
		fail "$nlog warnings for '$kind' in ${secs}s"
done
note "notify warnings: $(grep -c 'notify:' "$T/master.log") in ${secs}s"
# Nothing about the workers changed: same pids, states, restarts.
pick() { python3 -c 'import json,sys; print(sorted((w["slot"], w["pid"], w["state"], w["restarts"]) for w in json.load(open(sys.argv[1]))["workers"]))' "$1"; }
assert_eq "$(pick "$T/st1")" "$(pick "$T/st0")" "workers after the flood"
out=$("$CLUSTERD" reload "$T/app.conf" 2>&1) || fail "reload after the flood: $out"
stop_master_clean
exit 0
