#!/usr/bin/env bash
# `clusterd events --json`: during a kill -9, a reload, scale +1 and a stop,
# the expected events come in order, each line one JSON object, and the
# reader exits 0 when the master exits; two readers at once (one in text).
# A reader stopped for 10 s during a crash loop of ~2,000 restarts leaves
# the master's RSS within 256 KiB and, resumed, is told how many events it
# missed (and exactly how many when the other reader missed none). A 17th
# reader is refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

start_cluster 2 "restart_delay = 20ms"
bg_run "$CLUSTERD" events "$T/app.conf" --json >"$T/ev.json" 2>"$T/ev.err"
R1=$BG_PID
bg_run "$CLUSTERD" events "$T/app.conf" >"$T/ev.txt" 2>"$T/ev2.err"
R2=$BG_PID
wait_until 5 eval "[ \$(grep -c 'events: pid .* reads the event stream' '$T/master.log') -ge 2 ]" ||
	fail "readers not connected: $(tail -5 "$T/master.log")"

# has_event PY-EXPR: a JSON line e of the stream for which EXPR holds.
has_event() {
	python3 - "$T/ev.json" "$1" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    try:
        e = json.loads(l)
    except ValueError:
        continue
    if eval(sys.argv[2]):
        sys.exit(0)
sys.exit(1)
PY
}

victim=$(slot_pid 1)
[ -n "$victim" ] || fail "no slot 1 worker"
kill -9 "$victim"
wait_until 10 has_event "e['type'] == 'slot' and e['slot'] == 1 and e['to'] == 'ready' and e['pid'] != $victim" ||
	fail "no respawn of slot 1 in the stream: $(cat "$T/ev.json")"
"$CLUSTERD" reload "$T/app.conf" >/dev/null || fail "reload"
wait_until 10 has_event "e['type'] == 'reload' and e['phase'] == 'ok'" ||
	fail "no reload result: $(tail -5 "$T/ev.json")"
"$CLUSTERD" scale "$T/app.conf" +1 >/dev/null || fail "scale +1"
wait_until 10 has_event "e['type'] == 'slot' and e['slot'] == 2 and e['to'] == 'ready'" ||
	fail "no slot 2 ready: $(tail -5 "$T/ev.json")"
"$CLUSTERD" stop "$T/app.conf" >/dev/null || fail "stop"
wait "$MASTER"; assert_eq "$?" 0 "master exit"
wait_until 10 eval '! alive $R1 && ! alive $R2' || fail "the readers did not exit with the master"
wait "$R1"; assert_eq "$?" 0 "events --json exit status ($(cat "$T/ev.err"))"
wait "$R2"; assert_eq "$?" 0 "events exit status ($(cat "$T/ev2.err"))"

# Every line is one JSON object, and the events come in this order.
python3 - "$T/ev.json" "$victim" <<'PY' || fail "event stream: $(cat "$T/ev.json")"
import json, sys
victim = int(sys.argv[2])
ev = []
for n, l in enumerate(open(sys.argv[1]), 1):
    e = json.loads(l)
    assert isinstance(e, dict) and 'ts' in e and 'type' in e, (n, l)
    ev.append(e)

def find(start, pred, what):
    for i in range(start, len(ev)):
        if pred(ev[i]):
            return i
    raise AssertionError("missing after #%d: %s" % (start, what))

i = find(0, lambda e: e['type'] == 'exit' and e['pid'] == victim and
    e['reason'] == 'crash' and e['status'] == 'signal 9 (KILL)', 'exit of the victim')
i = find(i, lambda e: e['type'] == 'slot' and e['slot'] == 1 and
    e['event'] == 'exit' and e['from'] == 'ready' and e['to'] == 'backoff', 'ready -> backoff')
i = find(i, lambda e: e['type'] == 'slot' and e['slot'] == 1 and
    e['from'] == 'backoff' and e['to'] == 'starting', 'backoff -> starting')
i = find(i, lambda e: e['type'] == 'slot' and e['slot'] == 1 and
    e['from'] == 'starting' and e['to'] == 'ready', 'starting -> ready')
i = find(i, lambda e: e['type'] == 'reload' and e['phase'] == 'begin' and
    e['generation'] == 2, 'reload begin')
for s in (0, 1):
    j = find(i, lambda e: e['type'] == 'slot' and e['slot'] == s and
        e['to'] == 'replacing', 'slot %d replacing' % s)
    j = find(j, lambda e: e['type'] == 'slot' and e['slot'] == s and
        e['from'] == 'replacing' and e['to'] == 'ready' and e['generation'] == 2,
        'slot %d ready on generation 2' % s)
    find(j, lambda e: e['type'] == 'exit' and e['slot'] == s and
        e['generation'] == 1 and e['reason'] == 'stopped', 'slot %d old worker stopped' % s)
i = find(i, lambda e: e['type'] == 'reload' and e['phase'] == 'ok' and
    e['generation'] == 2, 'reload ok')
i = find(i, lambda e: e['type'] == 'scale' and e['from'] == 2 and e['to'] == 3, 'scale 2 -> 3')
i = find(i, lambda e: e['type'] == 'slot' and e['slot'] == 2 and
    e['from'] == 'stopped' and e['to'] == 'starting', 'slot 2 starting')
i = find(i, lambda e: e['type'] == 'slot' and e['slot'] == 2 and
    e['to'] == 'ready', 'slot 2 ready')
i = find(i, lambda e: e['type'] == 'stop' and e['phase'] == 'begin', 'stop begin')
for s in (0, 1, 2):
    find(i, lambda e: e['type'] == 'slot' and e['slot'] == s and
        e['event'] == 'stop' and e['to'] == 'draining', 'slot %d draining' % s)
    find(i, lambda e: e['type'] == 'exit' and e['slot'] == s and
        e['reason'] == 'stopped', 'slot %d exit at stop' % s)
assert ev[-1]['type'] == 'stop' and ev[-1]['phase'] == 'done', ev[-1]
assert not any(e['type'] == 'dropped' for e in ev), 'dropped events'
print("%d events" % len(ev), file=sys.stderr)
PY
# The text reader saw the same, one timestamped line each.
assert_eq "$(wc -l <"$T/ev.txt")" "$(wc -l <"$T/ev.json")" "text and JSON readers: line count"
bad=$(grep -vE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z [a-z]' "$T/ev.txt" | head -3)
[ -z "$bad" ] || fail "text lines without a timestamp: $bad"
grep -q "slot 1: ready -\[exit: signal 9 (KILL)\]-> backoff" "$T/ev.txt" ||
	fail "text: no crash of slot 1: $(head -20 "$T/ev.txt")"
grep -q "reload: generation 2 ok" "$T/ev.txt" || fail "text: no reload result"
note "text: $(grep -m1 'exit: slot 1' "$T/ev.txt")"

# ---- A stopped reader during a crash loop.
rm -f "$T/master.log"
start_cluster 3 \
	"command = /bin/sh -c 'if [ -e $T/crash ] && [ \"\$CLUSTERD_WORKER\" != 0 ]; then exit 3; fi; exec $WORKER'" \
	"restart_delay = 1ms" "restart_delay_max = 1ms"
bg_run "$CLUSTERD" events "$T/app.conf" --json >"$T/slow.json" 2>"$T/slow.err"
SLOW=$BG_PID
bg_run "$CLUSTERD" events "$T/app.conf" --json >"$T/fast.json" 2>"$T/fast.err"
FAST=$BG_PID
wait_until 5 eval "[ \$(grep -c 'reads the event stream' '$T/master.log') -ge 2 ]" ||
	fail "readers not connected"
touch "$T/crash"
kill -9 "$(slot_pid 1)" "$(slot_pid 2)"
restarts() { grep -c 'restarting in' "$T/master.log"; }
wait_until 10 eval "[ \$(restarts) -ge 100 ]" || fail "no crash loop: $(tail -5 "$T/master.log")"
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$MASTER/status"; }
kill -STOP "$SLOW"
r0=$(restarts) rss0=$(rss) t0=$(now_ms)
wait_until 15 eval "[ \$(( \$(now_ms) - $t0 )) -ge 10000 ]"
r1=$(restarts) rss1=$(rss)
note "restarts while the reader was stopped: $((r1 - r0)) in 10 s; master RSS $rss0 -> $rss1 KiB"
[ $((r1 - r0)) -ge 500 ] || fail "only $((r1 - r0)) restarts in 10 s"
if [ -z "$SAN" ]; then
	[ $((rss1 - rss0)) -le 256 ] || fail "master RSS grew by $((rss1 - rss0)) KiB (limit 256)"
fi
kill -CONT "$SLOW"
rm -f "$T/crash"
wait_until 20 eval "grep -q '\"type\":\"dropped\"' '$T/slow.json'" ||
	fail "the resumed reader was not told what it missed: $(tail -3 "$T/slow.json")"
stop_master
wait_until 10 eval '! alive $SLOW && ! alive $FAST' || fail "readers did not exit with the master"
wait "$SLOW"; assert_eq "$?" 0 "stopped reader's exit status ($(cat "$T/slow.err"))"
wait "$FAST"; assert_eq "$?" 0 "fast reader's exit status ($(cat "$T/fast.err"))"
python3 - "$T/slow.json" "$T/fast.json" <<'PY' || fail "crash-loop streams"
import json, sys
def load(f):
    return [json.loads(l) for l in open(f)]
slow, fast = load(sys.argv[1]), load(sys.argv[2])
dropped = sum(e['count'] for e in slow if e['type'] == 'dropped')
got = sum(1 for e in slow if e['type'] != 'dropped')
fast_dropped = sum(e['count'] for e in fast if e['type'] == 'dropped')
print("stopped reader: %d events, told %d dropped; the other: %d events, %d dropped"
    % (got, dropped, len(fast), fast_dropped), file=sys.stderr)
assert dropped > 0
assert slow[-1]['type'] == 'stop' and slow[-1]['phase'] == 'done', slow[-1]
if fast_dropped == 0:
    # Nothing lost on the other reader: it saw every event, so the stopped
    # one got some of them and was told the exact number of the rest.
    assert got + dropped == len(fast), (got, dropped, len(fast))
PY

# ---- At most 16 readers: the 17th is told so (exit 1), the others go on.
rm -f "$T/master.log"
start_cluster 1
for i in $(seq 16); do bg_run "$CLUSTERD" events "$T/app.conf" >"$T/r$i.out" 2>&1; done
wait_until 10 eval "[ \$(grep -c 'reads the event stream' '$T/master.log') -ge 16 ]" ||
	fail "16 readers not connected"
out=$("$CLUSTERD" events "$T/app.conf" 2>&1)
assert_eq "$?" 1 "17th reader's exit status"
assert_contains "$out" "too many event readers" "17th reader's message"
"$CLUSTERD" scale "$T/app.conf" 2 >/dev/null || fail "scale 2"
wait_until 10 grep -q "scale: 1 -> 2 workers" "$T/r16.out" || fail "reader 16 missed the scale"
stop_master
exit 0
