#!/usr/bin/env bash
# fork() fails (RLIMIT_NPROC, as a user that is not root: root ignores it).
# The cluster runs as an otherwise unused uid with `ulimit -u 3` (the master
# and 2 workers; hard limit 64). SIGTTIN asks for a third worker: each fork failure is
# logged, the slot backs off (master CPU small over 5 s), the 2 others
# serve. A reload whose new worker cannot be forked fails and says so (it
# used to wait forever). Once the limit is raised (prlimit), a third slot
# starts and a reload succeeds. SIGTERM: exit 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

[ "$(id -u)" = 0 ] || skip "needs root (setpriv, prlimit)"
command -v setpriv >/dev/null || skip "no setpriv"
command -v prlimit >/dev/null || skip "no prlimit"
# A uid no process uses, so that RLIMIT_NPROC counts only ours.
U=""
for u in $(seq $((40000 + $$ % 1000)) 7 $((41000 + $$ % 1000))); do
	getent passwd "$u" >/dev/null && continue
	[ -z "$(ps -u "$u" -o pid= 2>/dev/null)" ] && { U=$u; break; }
done
[ -n "$U" ] || skip "no unused uid"
chmod 711 "$T"
mkdir -p "$T/pub" "$T/pub/rt"
chown "$U:$U" "$T/pub/rt"
chmod 700 "$T/pub/rt"
NAME=forkfail CONF=$T/pub/app.conf cluster_app 2 \
	"[cluster]" "control = $T/pub/rt/control.sock" "pidfile = $T/pub/rt/master.pid" \
	"[worker]" "ready_timeout = 5s" "restart_delay = 50ms" "restart_delay_max = 1s"
[ "$PORT" -gt 1024 ] || fail "port $PORT"
chmod 644 "$T/pub/app.conf"
bg_run setpriv --reuid="$U" --regid="$U" --clear-groups \
	bash -c 'ulimit -S -u 3 && ulimit -H -u 64 && exec "$0" run "$1"' "$CLUSTERD" "$T/pub/app.conf" \
	>"$T/master.log" 2>&1
MASTER=$BG_PID
wait_started
assert_eq "$(stat -c %u "/proc/$MASTER")" "$U" "master uid"

note "SIGTTIN: a third worker cannot be forked"
c0=$(cpu_ticks "$MASTER")
t0=$(now_ms)
kill -TTIN "$MASTER"
wait_until 5 eval "[ \$(grep -c 'slot 2: fork: Resource temporarily unavailable' '$T/master.log') -ge 3 ]" ||
	fail "no fork failure logged: $(tail -5 "$T/master.log")"
for i in $(seq 10); do
	http_ok "http://127.0.0.1:$PORT/" || fail "no answer while fork fails"
done
wait_until 7 eval "[ \$(( \$(now_ms) - $t0 )) -ge 5000 ]"
c1=$(cpu_ticks "$MASTER")
hz=$(getconf CLK_TCK)
nfail=$(grep -c 'slot 2: fork: ' "$T/master.log")
note "5 s of failing forks: $nfail attempts, master CPU $((c1 - c0)) ticks of 1/$hz s"
[ "$nfail" -le 12 ] || fail "$nfail fork attempts in 5 s: no backoff"
[ $(( (c1 - c0) * 1000 / hz )) -lt 250 ] || fail "master CPU $((c1 - c0)) ticks in 5 s"
grep -q 'slot 2: restarting in 1.000s' "$T/master.log" ||
	fail "backoff never reached restart_delay_max"

note "reload while fork fails"
kill -HUP "$MASTER"
wait_until 10 master_log_has "reload to generation 2 failed" ||
	fail "the reload did not finish: $(tail -8 "$T/master.log")"
alive "$MASTER" || fail "master died"
http_ok "http://127.0.0.1:$PORT/" || fail "no answer after the failed reload"

note "limit raised"
# Only the same uid (or CAP_SYS_RESOURCE) may change another process's
# limits: raise the soft limit up to the hard one as that uid.
setpriv --reuid="$U" --regid="$U" --clear-groups prlimit --pid "$MASTER" --nproc=64: ||
	fail "prlimit"
# The failed reload scaled back to the file's 2 workers: ask again.
kill -TTIN "$MASTER"
wait_until 5 eval "grep -q 'slot 2: pid [0-9]* ready' '$T/master.log'" ||
	fail "slot 2 did not start after the limit was raised: $(tail -5 "$T/master.log")"
kill -HUP "$MASTER"
wait_until 15 master_log_has "reloaded: generation 3, 2/2 workers" ||
	fail "reload after the limit was raised: $(tail -5 "$T/master.log")"
stop_master
exit 0
