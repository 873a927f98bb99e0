#!/usr/bin/env bash
# The log file's filesystem is full (a 64 KiB tmpfs holds `log`): the master
# keeps supervising. While no log line can be written it answers `status`
# and `reload`, replaces a crashed worker, serves, takes SIGUSR1 (reopen),
# stays idle; once space is back, lines appear again; `stop` exits 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

[ "$(id -u)" = 0 ] || skip "needs root (mount)"
mkdir -p "$T/logfs"
mount -t tmpfs -o size=64k,mode=0755 tmpfs "$T/logfs" 2>/dev/null ||
	skip "cannot mount a tmpfs"
on_exit "umount -l '$T/logfs'"
LOG=$T/logfs/app.log
cluster_app 2 "[cluster]" "log = $LOG" "[worker]" "restart_delay = 50ms"
run_cluster "$T/app.conf"
wait_until 10 grep -q "workers ready on" "$LOG" ||
	fail "no start: $(cat "$T/master.log"; tail -5 "$LOG")"

# Fill the filesystem.
dd if=/dev/zero of="$T/logfs/fill" bs=1k 2>/dev/null
# ... and the log's last page: tmpfs allocates whole pages.
for i in $(seq 100); do
	printf '%s\n' "---- padding to fill the last page ----" >>"$LOG" 2>/dev/null || break
done
echo x >>"$LOG" 2>/dev/null && fail "the filesystem is not full"
size0=$(stat -c %s "$LOG")
note "disk full; log is $size0 bytes"

c0=$(cpu_ticks "$MASTER")
"$CLUSTERD" status "$T/app.conf" >"$T/st1" 2>&1 || fail "status: $(cat "$T/st1")"
assert_contains "$(cat "$T/st1")" "2/2 workers ready" "status with the disk full"
victim=$(children "$MASTER" | head -1)
kill -9 "$victim"
replaced() {
	local p
	[ "$(nchildren "$MASTER")" -eq 2 ] || return 1
	for p in $(children "$MASTER"); do [ "$p" = "$victim" ] && return 1; done
	"$CLUSTERD" status "$T/app.conf" | grep -q "2/2 workers ready"
}
wait_until 10 replaced || fail "crashed worker not replaced: $("$CLUSTERD" status "$T/app.conf" 2>&1)"
"$CLUSTERD" status "$T/app.conf" >"$T/st2" 2>&1
assert_contains "$(cat "$T/st2")" "signal 9 (KILL)" "last exit in status"
for i in $(seq 10); do http_ok "http://127.0.0.1:$PORT/" || fail "no answer with the disk full"; done
out=$("$CLUSTERD" reload "$T/app.conf" 2>&1) || fail "reload with the disk full: $out"
assert_contains "$out" "reloaded: generation 2, 2/2 workers" "reload result"
kill -USR1 "$MASTER"
"$CLUSTERD" status "$T/app.conf" >/dev/null 2>&1 || fail "status after SIGUSR1"
alive "$MASTER" || fail "master died"
c1=$(cpu_ticks "$MASTER")
note "master CPU while the disk was full: $((c1 - c0)) ticks"
[ $(( (c1 - c0) * 1000 / $(getconf CLK_TCK) )) -lt 500 ] || fail "master busy with a full disk"
assert_eq "$(stat -c %s "$LOG")" "$size0" "log size while full"

# Space again: the next events are logged.
rm -f "$T/logfs/fill"
victim=$(children "$MASTER" | head -1)
kill -9 "$victim"
wait_until 5 grep -q "pid $victim (generation 2) exited: signal 9" "$LOG" ||
	fail "no log line once space is back: $(tail -3 "$LOG")"
out=$("$CLUSTERD" stop "$T/app.conf" 2>&1) || fail "stop: $out"
wait "$MASTER"
assert_eq "$?" 0 "master exit status"
exit 0
