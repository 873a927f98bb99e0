#!/usr/bin/env bash
# A worker that exits at once (after the cluster started): restart spacing
# grows, the master's CPU over 10 s stays < 0.2 s, the other slot serves.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

start_cluster 2 \
	"command = /bin/sh -c 'if [ -e $T/crash ] && [ \"\$CLUSTERD_WORKER\" = 0 ]; then echo crashing >&2; exit 3; fi; exec $WORKER'" \
	"restart_delay = 20ms" "restart_delay_max = 2s"
touch "$T/crash"
victim=$(slot_pid 0)
[ -n "$victim" ] || fail "no slot 0 worker"
c0=$(cpu_ticks "$MASTER")
kill -9 "$victim"
wait_until 5 eval "[ \$(grep -c 'slot 0: restarting in' '$T/master.log') -ge 5 ]" ||
	fail "no crash loop: $(tail "$T/master.log")"
# The other slot keeps serving during the loop: every answer is slot 1.
for i in 1 2 3 4 5; do
	h=$(http_headers "http://127.0.0.1:$PORT/" | header_of X-Worker-Slot)
	assert_eq "$h" 1 "answer during the crash loop"
done
# 10 s of crash loop.
t0=$(now_ms)
wait_until 12 eval "[ \$(( \$(now_ms) - $t0 )) -ge 10000 ]"
c1=$(cpu_ticks "$MASTER")
hz=$(getconf CLK_TCK)
note "master CPU over the loop: $((c1 - c0)) ticks of 1/$hz s"
[ $(( (c1 - c0) * 1000 / hz )) -lt 200 ] || fail "master used $((c1 - c0)) ticks"
delays=$(sed -n 's/.*slot 0: restarting in \([0-9.]*\)s.*/\1/p' "$T/master.log")
note "delays: $(echo $delays)"
python3 - "$delays" <<'EOF' || fail "restart spacing does not grow: $delays"
import sys
d = [float(x) for x in sys.argv[1].split()]
assert d[0] <= 0.05, d
assert all(b >= a for a, b in zip(d, d[1:])), d
assert max(d) == 2.0, d   # capped at restart_delay_max
EOF
grep -q "slot 0 pid [0-9]*: crashing" "$T/master.log" || fail "worker stderr not logged"
kill -TERM "$MASTER"; wait "$MASTER"
exit 0
