#!/usr/bin/env bash
# t_worker_options: the reference worker's side of the contract and its
# test-double options, seen from outside: sd_notify datagrams (READY=1
# after --ready-delay-ms, STATUS=, WATCHDOG=1 at WATCHDOG_USEC/2, none
# while /hang blocks it, STOPPING=1), --no-ready, --no-watchdog,
# --exit-at-start/--only-slot, /exit and /crash, --ignore-term (and its
# grandchild), --grow-mb-per-s, /env under socket activation, refusal of
# a non-socket fd 3.
. "$(dirname "$0")/lib.sh"

[ -x "$WORKER" ] || fail "no $WORKER (make clusterd-worker)"

# A NOTIFY_SOCKET listener: one line per datagram, "MS TEXT" with the
# message's newlines shown as '|'.
cat >"$T/notify.py" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + sys.argv[1])
open(sys.argv[2] + ".ready", "w").close()
with open(sys.argv[2], "a") as out:
    while True:
        d = s.recv(4096).decode(errors="replace").replace("\n", "|")
        out.write("%d %s\n" % (time.time() * 1000, d))
        out.flush()
EOF
# notify_listen NAME: listen on @clusterd-test-NAME-$$, log to $T/NAME.notify
notify_listen() {
	bg_run python3 "$T/notify.py" "clusterd-test-$1-$$" "$T/$1.notify"
	wait_until 5 test -e "$T/$1.notify.ready" || fail "notify listener $1"
	: >>"$T/$1.notify"
}
notified() { grep -q -- "$2" "$T/$1.notify"; }
nlines() { grep -c -- "$2" "$T/$1.notify"; }

# --- READY after the boot delay, STATUS, WATCHDOG, STOPPING -------------
notify_listen a
port=$(free_port)
t0=$(now_ms)
NOTIFY_SOCKET=@clusterd-test-a-$$ WATCHDOG_USEC=200000 CLUSTERD_WORKER=3 \
	bg_run "$WORKER" --listen "127.0.0.1:$port" --ready-delay-ms 400 \
	>"$T/a.log" 2>&1
apid=$BG_PID
wait_until 2 port_open "$port" || fail "a: not listening"
# A request during the boot delay waits for it.
curl -s --max-time 5 -o "$T/a.body" "http://127.0.0.1:$port/" &
cpid=$!
wait_until 5 notified a 'READY=1' || fail "a: no READY=1: $(cat "$T/a.notify")"
wait "$cpid" || fail "a: request made during the boot delay failed"
t1=$(now_ms)
assert_eq "$(cat "$T/a.body")" "hello world" "a: request made during boot"
ready_ms=$(awk '/READY=1/ { print $1; exit }' "$T/a.notify")
[ $((ready_ms - t0)) -ge 400 ] || fail "a: READY=1 after $((ready_ms - t0)) ms, delay is 400"
[ $((t1 - t0)) -ge 400 ] || fail "a: answered during the boot delay"
notified a "READY=1|STATUS=serving on 127.0.0.1:$port" ||
	fail "a: READY=1 without STATUS: $(cat "$T/a.notify")"
notified a "STATUS=starting" || fail "a: no STATUS while starting"
wait_until 3 eval '[ "$(nlines a WATCHDOG=1)" -ge 4 ]' ||
	fail "a: WATCHDOG=1 not sent every 100 ms: $(cat "$T/a.notify")"
# /hang blocks the process: no WATCHDOG=1 for that long.
n0=$(nlines a WATCHDOG=1)
t2=$(now_ms)
assert_eq "$(http_get "http://127.0.0.1:$port/hang?ms=700")" "hung 700 ms" "a: /hang"
gap=$(awk -v t="$t2" '/WATCHDOG=1/ && $1 >= t - 150 { if (p) { d = $1 - p; if (d > m) m = d } p = $1 } END { print m + 0 }' "$T/a.notify")
[ "$gap" -ge 600 ] || fail "a: longest WATCHDOG=1 gap around /hang is $gap ms"
wait_until 2 eval '[ "$(nlines a WATCHDOG=1)" -ge $((n0 + 3)) ]' ||
	fail "a: WATCHDOG=1 did not resume after /hang"
kill -TERM "$apid"
wait_until 3 notified a 'STOPPING=1' || fail "a: no STOPPING=1"
wait_until 3 eval "! alive $apid" || fail "a: did not exit after SIGTERM"
wait "$apid"
assert_eq "$?" 0 "a: exit status"
note "READY=1 $((ready_ms - t0)) ms after start, watchdog gap during /hang: $gap ms"

# --- --no-ready serves at once and never says READY=1; --no-watchdog -----
notify_listen b
port=$(free_port)
NOTIFY_SOCKET=@clusterd-test-b-$$ WATCHDOG_USEC=100000 \
	bg_run "$WORKER" --listen "127.0.0.1:$port" --no-ready --no-watchdog \
	>"$T/b.log" 2>&1
bpid=$BG_PID
wait_until 5 http_ok "http://127.0.0.1:$port/" || fail "b: --no-ready does not serve"
wait_until 2 notified b 'STATUS=serving' || fail "b: no STATUS"
wait_until 0.5 notified b 'READY=1\|WATCHDOG=1' &&
	fail "b: sent READY=1 or WATCHDOG=1: $(cat "$T/b.notify")"
kill -TERM "$bpid"
wait_until 3 eval "! alive $bpid" || fail "b: did not exit after SIGTERM"

# --- --exit-at-start, --only-slot ----------------------------------------
"$WORKER" --listen 127.0.0.1:1 --exit-at-start 5 2>"$T/e.log"
assert_eq "$?" 5 "--exit-at-start 5"
assert_contains "$(cat "$T/e.log")" "exiting at start with code 5" "--exit-at-start message"
CLUSTERD_WORKER=1 "$WORKER" --listen 127.0.0.1:1 --exit-at-start 6 --only-slot 1 2>/dev/null
assert_eq "$?" 6 "--exit-at-start 6 --only-slot 1 in slot 1"
port=$(free_port)
CLUSTERD_WORKER=0 bg_run "$WORKER" --listen "127.0.0.1:$port" \
	--exit-at-start 6 --only-slot 1 >"$T/s0.log" 2>&1
wait_until 5 http_ok "http://127.0.0.1:$port/" || fail "--only-slot 1 exited in slot 0"
assert_contains "$(http_headers "http://127.0.0.1:$port/")" "X-Worker-Slot: 0" "slot header"
"$WORKER" 2>/dev/null
assert_eq "$?" 2 "no socket at all"

# --- /exit and /crash ---------------------------------------------------
for what in exit crash; do
	port=$(free_port)
	bg_run "$WORKER" --listen "127.0.0.1:$port" >"$T/$what.log" 2>&1
	pid=$BG_PID
	wait_until 5 http_ok "http://127.0.0.1:$port/" || fail "$what: not up"
	http_get "http://127.0.0.1:$port/$what" >/dev/null
	wait_until 3 eval "! alive $pid" || fail "/$what: still alive"
	wait "$pid"
	rc=$?
	case $what in
	exit) assert_eq "$rc" 3 "/exit status" ;;
	crash) assert_eq "$rc" $((128 + 6)) "/crash status (SIGABRT)" ;;
	esac
done

# --- --ignore-term: it and its grandchild survive SIGTERM ---------------
port=$(free_port)
bg_run "$WORKER" --listen "127.0.0.1:$port" --ignore-term >"$T/i.log" 2>&1
ipid=$BG_PID
wait_until 5 http_ok "http://127.0.0.1:$port/" || fail "ignore-term: not up"
gc=$(ps -e -o pid=,ppid= | awk -v p="$ipid" '$2 == p { print $1; exit }')
[ -n "$gc" ] || fail "ignore-term: no grandchild"
assert_eq "$(_pgid "$gc")" "$ipid" "grandchild's process group"
kill -TERM "$ipid" "$gc"
wait_until 0.5 eval "! alive $ipid || ! alive $gc" &&
	fail "ignore-term: SIGTERM stopped the worker or its grandchild"
assert_eq "$(http_get "http://127.0.0.1:$port/")" "hello world" "ignore-term: still serving"
kill -KILL -- "-$ipid"
wait_until 3 eval "! group_alive $ipid" || fail "ignore-term: group survives SIGKILL"

# --- --grow-mb-per-s -----------------------------------------------------
port=$(free_port)
bg_run "$WORKER" --listen "127.0.0.1:$port" --grow-mb-per-s 100 >"$T/g.log" 2>&1
gpid=$BG_PID
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
wait_until 5 eval '[ "$(rss '"$gpid"')" -ge 100000 ]' ||
	fail "--grow-mb-per-s 100: RSS $(rss "$gpid") kB after 5 s"
kill -KILL "$gpid"

# --- Socket activation: /env shows what was handed over -----------------
if command -v systemd-socket-activate >/dev/null; then
	port=$(free_port)
	bg_run systemd-socket-activate -l "127.0.0.1:$port" -E CLUSTERD_WORKER=5 -E CLUSTERD_WORKER_DEBUG \
		"$WORKER" >"$T/sa.log" 2>&1
	spid=$BG_PID
	wait_until 5 http_ok "http://127.0.0.1:$port/" || fail "socket activation: $(cat "$T/sa.log")"
	env=$(http_get "http://127.0.0.1:$port/env")
	assert_contains "$env" "LISTEN_FDS=1" "/env LISTEN_FDS"
	assert_contains "$env" "LISTEN_PID=$spid" "/env LISTEN_PID"
	assert_contains "$env" "CLUSTERD_WORKER=5" "/env CLUSTERD_WORKER"
	assert_contains "$env" "fd 3: socket:" "/env fd 3"
	grep -q '^fds: 0 1 2 3\( \|$\)' <<<"$env" || fail "/env fds line: $env"
	grep -q '^rlimit_nofile: [0-9]' <<<"$env" || fail "/env rlimit line: $env"
	assert_contains "$(http_headers "http://127.0.0.1:$port/")" "X-Worker-Slot: 5" "activated slot"
	kill -TERM "$spid"
	wait_until 3 eval "! alive $spid" || fail "socket activation: no exit on SIGTERM"
	wait "$spid"
	assert_eq "$?" 0 "socket activation: exit status"
else
	note "SKIPPED: socket activation part: no systemd-socket-activate"
fi

# --- fd 3 that is not a listening socket: refuse, say why ----------------
bash -c 'exec 3</dev/null; LISTEN_FDS=1 LISTEN_PID=$$ exec "$0"' "$WORKER" 2>"$T/bad.log"
assert_eq "$?" 1 "fd 3 not a socket: exit status"
assert_contains "$(cat "$T/bad.log")" "not a listening stream socket" "fd 3 not a socket: message"
exit 0
