#!/usr/bin/env bash
# max_lifetime = 2s, 4 workers, 12 s of keep-alive load: every slot's
# worker is replaced at least 4 times, make-before-break and one slot at a
# time; `status --json` sampled every 50 ms never shows fewer than 4 ready;
# wrk sees no error; status names the reason.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
command -v wrk >/dev/null || skip "wrk missing"

DUR=12
start_cluster 4 "command = $WORKER --ready-delay-ms 100" "max_lifetime = 2s" "stop_timeout = 5s"

wrk -t2 -c32 -d${DUR}s "http://127.0.0.1:$PORT/" >"$T/wrk.out" 2>&1 &
WRK=$!
# Every 50 ms: the ready count, and how many slots have a successor
# starting (a "starting" row of a slot that also has a ready one).
python3 - "$CLUSTERD" "$T/app.conf" "$DUR" >"$T/samples.out" <<'PYEOF'
import json, subprocess, sys, time
clusterd, conf, dur = sys.argv[1], sys.argv[2], float(sys.argv[3])
end = time.monotonic() + dur
n = low = worst = 0
low = 99
while time.monotonic() < end:
    t = time.monotonic()
    d = json.loads(subprocess.run([clusterd, "status", conf, "--json"],
        capture_output=True, check=True, text=True).stdout)
    n += 1
    low = min(low, d["ready"])
    by = {}
    for w in d["workers"]:
        by.setdefault(w["slot"], set()).add(w["state"])
    both = sum(1 for s in by.values() if "starting" in s and "ready" in s)
    worst = max(worst, both)
    time.sleep(max(0, 0.05 - (time.monotonic() - t)))
print(n, low, worst)
PYEOF
read -r nsamples low worst <"$T/samples.out"
wait "$WRK"
note "status samples: $nsamples, lowest ready $low, most slots replacing at once $worst"
# At most one every 50 ms; back to back when status is slower (a loaded
# machine, a sanitizer build): never fewer than one per 200 ms.
[ "$nsamples" -ge 60 ] || fail "only $nsamples status samples in ${DUR}s"
[ "$low" -ge 4 ] || fail "ready count fell to $low"
[ "$worst" -le 1 ] || fail "$worst slots were being replaced at once"
grep -q "requests in" "$T/wrk.out" || fail "wrk did not run: $(cat "$T/wrk.out")"
grep -q "Socket errors\|Non-2xx" "$T/wrk.out" && fail "failed requests: $(cat "$T/wrk.out")"
note "wrk: $(grep 'requests in' "$T/wrk.out")"

# From the log: replacements per slot, and never two open at once.
for s in 0 1 2 3; do
	n=$(grep -c "slot $s: replacing pid .* (lifetime" "$T/master.log")
	note "slot $s: replaced $n times"
	[ "$n" -ge 4 ] || fail "slot $s replaced $n times in ${DUR}s"
done
awk '/-\[recycle: lifetime\]-> replacing/ { open[$5]=1; n=0; for (k in open) n++; if (n > 1) { print "two at once: " $0; bad=1 } }
     / replacing -\[/ && !/-> replacing/ { delete open[$5] }
     END { exit bad }' "$T/master.log" || fail "two slots recycled at once"
assert_contains "$("$CLUSTERD" status "$T/app.conf")" "replaced: slot 0 lifetime" "status text"
assert_eq "$("$CLUSTERD" status "$T/app.conf" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["workers"][0]["last_replace"])')" lifetime "last_replace in --json"
stop_master_clean
exit 0
