#!/usr/bin/env bash
# The master under valgrind (a build without sanitizers): start 2 workers,
# reload (SIGHUP), a worker crash (kill -9, replacement ready), stop
# (SIGTERM). valgrind reports no memory error and no definite leak, and the
# master exits 0. Workers run natively (valgrind follows no exec).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

command -v valgrind >/dev/null || skip "valgrind is not installed"
sanitized() {
	ldd "$1" 2>/dev/null | grep -q 'libasan\|libubsan' ||
		nm "$1" 2>/dev/null | grep -q ' __asan_init$'
}
BIN=$(readlink -f "$CLUSTERD")
if sanitized "$BIN"; then
	# `make SANITIZE=1 check` points ./clusterd at the ASan build, which
	# cannot run under valgrind: use the plain build if there is one.
	BIN=$ROOT/build/rel/clusterd
	[ -x "$BIN" ] && ! sanitized "$BIN" ||
		skip "no build without sanitizers (make) for valgrind"
fi

cluster_app 2 "ready_timeout = 20s" "restart_delay = 50ms"
bg_run valgrind --leak-check=full --error-exitcode=1 --track-fds=no \
	--log-file="$T/vg.log" "$BIN" run "$T/app.conf" >"$T/master.log" 2>&1
MASTER=$BG_PID
wait_started 60
http_ok "http://127.0.0.1:$PORT/" || fail "no answer after start"

note "reload"
kill -HUP "$MASTER"
wait_until 60 master_log_has "reloaded: generation 2" ||
	fail "no reload: $(tail -5 "$T/master.log")"

note "worker crash"
victim=$(children "$MASTER" | head -1)
[ -n "$victim" ] || fail "no worker"
kill -9 "$victim"
wait_until 30 master_log_has "pid $victim (generation 2) exited: signal 9" ||
	fail "crash not seen: $(tail -5 "$T/master.log")"
wait_until 30 eval "[ \$(grep -c 'ready after' '$T/master.log') -ge 5 ]" ||
	fail "no replacement: $(tail -5 "$T/master.log")"
http_ok "http://127.0.0.1:$PORT/" || fail "no answer after the crash"

note "stop"
kill -TERM "$MASTER"
wait_until 60 eval "! alive $MASTER" || fail "master did not exit"
wait "$MASTER"
rc=$?
note "valgrind summary:"
sed -n '/HEAP SUMMARY/,$p' "$T/vg.log" | sed 's/^/  /' >&2
assert_eq "$rc" 0 "exit status under valgrind (1: valgrind found errors)"
grep -q 'ERROR SUMMARY: 0 errors' "$T/vg.log" ||
	fail "valgrind errors: $(grep -A20 -m1 '== [A-Z]' "$T/vg.log")"
grep -q 'All heap blocks were freed -- no leaks are possible\|definitely lost: 0 bytes' \
	"$T/vg.log" || fail "memory definitely lost: $(grep 'lost:' "$T/vg.log")"
master_log_has "master $MASTER exiting" || fail "no clean exit logged"
exit 0
