#!/usr/bin/env bash
# The master's sd_notify conversation with its service manager, with this
# test playing systemd: a recorder binds the NOTIFY_SOCKET and logs every
# datagram with its CLOCK_MONOTONIC receive time and sender pid. READY=1
# only once every worker answers HTTP; RELOADING=1 + MONOTONIC_USEC in one
# datagram, READY=1 after the roll (and after a failed one, with a STATUS
# saying so); STOPPING=1; WATCHDOG=1 at half WATCHDOG_USEC for WATCHDOG_PID.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
# A test run under systemd 254 must not hand its store settings on.
unset FDSTORE MEMORY_PRESSURE_WATCH

# The recorder: one line per datagram, tab-separated:
#   RECV_USEC  SENDER_PID  KEY=VALUE  KEY=VALUE ...
# and after each READY=1, the state of the service at that very moment:
#   RECV_USEC  PROBE  ok=N/M  pids=P,Q  maxms=X
# (M fresh connections to PORT, GET /pid, each with a short deadline).
cat >"$T/recorder.py" <<'EOF'
import os, socket, struct, sys, time

addr, out, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
if addr.startswith("@"):
    s.bind("\0" + addr[1:])
else:
    s.bind(addr)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)

def now_us():
    return time.monotonic_ns() // 1000     # CLOCK_MONOTONIC on Linux

def probe(n=24, deadline=0.3):
    ok, pids, worst = 0, set(), 0.0
    for _ in range(n):
        t0 = time.monotonic()
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=deadline)
            c.sendall(b"GET /pid HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                b = c.recv(4096)
                if not b:
                    break
                data += b
            c.close()
            head, _, body = data.partition(b"\r\n\r\n")
            if head.startswith(b"HTTP/1.1 200"):
                ok += 1
                pids.add(body.decode().strip())
        except OSError:
            pass
        worst = max(worst, time.monotonic() - t0)
    return "ok=%d/%d\tpids=%s\tmaxms=%d" % (ok, n, ",".join(sorted(pids)),
                                            worst * 1000)

with open(out, "a") as f:
    print("recording", flush=True)
    while True:
        data, anc, flags, _ = s.recvmsg(4096, 256)
        t = now_us()
        pid = 0
        for level, typ, cdata in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", cdata[:12])[0]
            elif level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                for fd in struct.unpack("%di" % (len(cdata) // 4), cdata):
                    os.close(fd)
        fields = data.decode(errors="replace").strip("\n").split("\n")
        f.write("%d\t%d\t%s\n" % (t, pid, "\t".join(fields)))
        f.flush()
        if "READY=1" in fields:
            f.write("%d\tPROBE\t%s\n" % (now_us(), probe()))
            f.flush()
EOF

# start_recorder ADDR LOG: record datagrams sent to ADDR into LOG.
start_recorder() {
	bg_run python3 "$T/recorder.py" "$1" "$2" "$PORT" >"$2.out" 2>&1
	wait_until 5 grep -q recording "$2.out" || fail "recorder: $(cat "$2.out")"
}

# Over the recorder log $REC: the Nth (1-based) datagram with FIELD, whole.
nth() { awk -F'\t' -v f="$1" -v n="$2" '
	$2 != "PROBE" { for (i = 3; i <= NF; i++) if ($i == f && ++k == n) { print; exit } }' "$REC"; }
count() { awk -F'\t' -v f="$1" '$2 != "PROBE" { for (i = 3; i <= NF; i++) if ($i == f) k++ } END { print k + 0 }' "$REC"; }
# field LINE KEY: the value of KEY= in one recorded line.
field() { printf '%s\n' "$1" | tr '\t' '\n' | sed -n "s/^$2=//p" | head -1; }
recv_us() { printf '%s\n' "$1" | cut -f1; }
# The probe that followed the Nth READY=1.
probe_after_ready() { awk -F'\t' -v n="$1" '
	$2 != "PROBE" { for (i = 3; i <= NF; i++) if ($i == "READY=1") k++ }
	$2 == "PROBE" && k == n { print; exit }' "$REC"; }
has_count() { [ "$(count "$1")" -ge "$2" ]; }
has_probe() { [ -n "$(probe_after_ready "$1")" ]; }

# check_probe N WHAT: every probe connection after the Nth READY=1 was
# answered fast, by both workers.
check_probe() {
	local p
	wait_until 10 has_probe "$1" || fail "$2: no probe after READY=1"
	p=$(probe_after_ready "$1")
	note "$2: $(echo "$p" | cut -f3-)"
	assert_eq "$(field "$p" ok)" "24/24" "$2: requests answered when READY=1 arrived"
	# After a reload an old worker may still take a connection that was
	# queued on its slot before it got stop_signal: it serves it fully.
	[ "$(field "$p" pids | tr ',' '\n' | grep -c .)" -ge 2 ] ||
		fail "$2: expected answers from 2 workers at READY=1: $p"
	[ "$(field "$p" maxms)" -lt 250 ] || fail "$2: slow answers at READY=1: $p"
}

NAME=sdn CONF=$T/app.conf cluster_app 2 "command = $WORKER --ready-delay-ms 500"
cp "$T/app.conf" "$T/good.conf"

# 1. Start: STATUS while starting, READY=1 only once both workers serve.
REC=$T/notify.tsv
start_recorder "$T/notify.sock" "$REC"
NOTIFY_SOCKET=$T/notify.sock run_cluster "$T/app.conf"
wait_until 10 has_count READY=1 1 || fail "no READY=1: $(cat "$REC"; tail "$T/master.log")"
first=$(grep -v "FDSTORE" "$REC" | head -1)	# the fd store's datagrams may come first
# Each listening socket and the state memfd go to the fd store, named.
for n in clusterd-default-0 clusterd-default-1 clusterd-state; do
	grep -qP "\tFDSTORE=1\tFDNAME=$n(\t|$)" "$REC" || fail "no FDSTORE=1 of $n: $(cat "$REC")"
done
ready=$(nth READY=1 1)
note "first: $first"
note "ready: $ready"
assert_contains "$first" "STATUS=starting 2 workers" "first datagram"
assert_eq "$(field "$ready" STATUS)" "2/2 workers ready, generation 1" "STATUS with READY=1"
assert_eq "$(field "$ready" MAINPID)" "$MASTER" "MAINPID with READY=1"
dt=$(( ($(recv_us "$ready") - $(recv_us "$first")) / 1000 ))
[ "$dt" -ge 500 ] || fail "READY=1 ${dt} ms after the start, workers need 500 ms"
note "READY=1 after $dt ms"
check_probe 1 "start"

# 2. SIGHUP: RELOADING=1 and MONOTONIC_USEC in one datagram, READY=1 once
#    both slots run generation 2 (each new worker takes 500 ms).
kill -HUP "$MASTER"
wait_until 10 has_count READY=1 2 || fail "no READY=1 after reload: $(cat "$REC")"
rl=$(nth RELOADING=1 1)
note "reloading: $rl"
mono=$(field "$rl" MONOTONIC_USEC)
[ -n "$mono" ] || fail "RELOADING=1 without MONOTONIC_USEC in the same datagram: $rl"
skew=$(( $(recv_us "$rl") - mono ))
[ "$skew" -ge 0 ] && [ "$skew" -lt 1000000 ] ||
	fail "MONOTONIC_USEC=$mono is ${skew} us from our CLOCK_MONOTONIC at receipt"
assert_contains "$(field "$rl" STATUS)" "reloading" "STATUS with RELOADING=1"
ready=$(nth READY=1 2)
note "ready: $ready"
assert_eq "$(field "$ready" STATUS)" "2/2 workers ready, generation 2" "STATUS after reload"
roll=$(( ($(recv_us "$ready") - mono) / 1000 ))
[ "$roll" -ge 1000 ] || fail "READY=1 ${roll} ms after RELOADING=1: before the 2 new workers (500 ms each) were ready"
note "reload: READY=1 ${roll} ms after RELOADING=1"
check_probe 2 "after reload"

# 3. A reload of a broken file: RELOADING=1, then READY=1 all the same
#    (systemd would wait forever) with a STATUS saying it failed.
printf 'no_such_key = 1\n' >>"$T/app.conf"
kill -HUP "$MASTER"
wait_until 10 has_count READY=1 3 || fail "no READY=1 after a failed reload: $(cat "$REC")"
assert_eq "$(count RELOADING=1)" 2 "RELOADING=1 for the failed reload"
rl=$(nth RELOADING=1 2)
ready=$(nth READY=1 3)
[ "$(recv_us "$rl")" -le "$(recv_us "$ready")" ] || fail "READY=1 before RELOADING=1"
note "failed reload: $(field "$ready" STATUS)"
assert_contains "$(field "$ready" STATUS)" "reload failed" "STATUS after a failed reload"
assert_contains "$(field "$ready" STATUS)" "2/2 workers ready, generation 2" "STATUS after a failed reload"
check_probe 3 "after failed reload"
cp "$T/good.conf" "$T/app.conf"

# 4. SIGTERM: STOPPING=1, then the master exits 0.
kill -TERM "$MASTER"
wait "$MASTER"; rc=$?
assert_eq "$rc" 0 "master exit code"
has_count STOPPING=1 1 || fail "no STOPPING=1: $(cat "$REC")"
note "stopping: $(nth STOPPING=1 1)"
# NotifyAccess=main: every datagram came from the master itself.
senders=$(awk -F'\t' '$2 != "PROBE" { print $2 }' "$REC" | sort -u | tr '\n' ' ')
assert_eq "$senders" "$MASTER " "sender pids of the datagrams"

# 5. The master's watchdog (WatchdogSec=): WATCHDOG_USEC=400000 for
#    WATCHDOG_PID = the master (known before exec through `exec`), on an
#    abstract NOTIFY_SOCKET. Pings come from the loop at half the interval.
REC=$T/watchdog.tsv
addr="@clusterd-test-$$-$RANDOM"
start_recorder "$addr" "$REC"
NOTIFY_SOCKET=$addr WATCHDOG_USEC=400000 bg_run bash -c \
	'export WATCHDOG_PID=$$; exec "$0" run "$1"' "$CLUSTERD" "$T/app.conf" \
	>"$T/master-wd.log" 2>&1
MASTER=$BG_PID
wait_until 10 has_count READY=1 1 || fail "no READY=1: $(cat "$REC"; tail "$T/master-wd.log")"
wait_until 10 has_count WATCHDOG=1 8 || fail "WATCHDOG=1 pings: $(cat "$REC")"
grep -q "systemd watchdog: pinging every 0.200s" "$T/master-wd.log" ||
	fail "watchdog not logged: $(cat "$T/master-wd.log")"
gaps=$(awk -F'\t' '$3 == "WATCHDOG=1" { if (t) print int(($1 - t) / 1000); t = $1 }' "$REC" | head -7)
note "WATCHDOG=1 intervals (ms): $(echo $gaps)"
for g in $gaps; do
	[ "$g" -ge 150 ] && [ "$g" -le 350 ] || fail "WATCHDOG=1 interval $g ms, want ~200: $(echo $gaps)"
done
senders=$(awk -F'\t' '$2 != "PROBE" { print $2 }' "$REC" | sort -u | tr '\n' ' ')
assert_eq "$senders" "$MASTER " "sender pids of the watchdog run"
# What belongs to the master stays with it: workers talk to the master's
# own socket and get no systemd watchdog.
env=$(http_get "http://127.0.0.1:$PORT/env")
assert_contains "$env" "NOTIFY_SOCKET=@clusterd/sdn/$MASTER/" "worker NOTIFY_SOCKET"
assert_not_contains "$env" "WATCHDOG_USEC=" "worker environment"
assert_not_contains "$env" "$addr" "worker environment"
kill -TERM "$MASTER"
wait "$MASTER"; rc=$?
assert_eq "$rc" 0 "master exit code (watchdog run)"
exit 0
