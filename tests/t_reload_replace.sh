#!/usr/bin/env bash
# The replace-one-worker step outside reloads: max_memory replaces a worker
# that grows past the limit with zero failed requests; watchdog kills a
# worker that stops pinging (SIGSTOP) and replaces it within ~2 intervals.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

# 1. max_memory: slot 0 grows 40 MiB/s past 30M.
CONF=$T/mem.conf start_cluster 2 \
	"command = /bin/sh -c 'if [ \"\$CLUSTERD_WORKER\" = 0 ] && [ \"\$CLUSTERD_GENERATION\" = 1 ] && [ ! -e $T/grown ]; then touch $T/grown; exec $WORKER --grow-mb-per-s 40; fi; exec $WORKER'" \
	"max_memory = 30M"
python3 "$ROOT/tests/load.py" --port "$PORT" --duration 4 --conc 4 >"$T/load.json" &
LOAD=$!
wait_until 6 master_log_has "above max_memory" || fail "no max_memory replacement: $(tail "$T/master.log")"
wait_until 5 master_log_has "stopping pid [0-9]* (generation 1): replaced" || fail "old worker not drained"
wait "$LOAD"
note "load during the replacement: $(cat "$T/load.json")"
[ "$(load_field failed)" = 0 ] && [ "$(load_field ok)" -gt 0 ] ||
	fail "requests failed during a max_memory replacement"
grep -q "exited: signal 9" "$T/master.log" && fail "a worker was SIGKILLed"
kill -TERM "$MASTER"; wait "$MASTER"

# 2. watchdog = 1s; SIGSTOP slot 0's worker.
: >"$T/master.log"
CONF=$T/wd.conf start_cluster 2 "watchdog = 1s"
victim=$(children "$MASTER" | head -1)
tr '\0' '\n' <"/proc/$victim/environ" | grep -q '^WATCHDOG_USEC=1000000$' || fail "WATCHDOG_USEC not set"
tr '\0' '\n' <"/proc/$victim/environ" | grep -q "^WATCHDOG_PID=$victim$" || fail "WATCHDOG_PID not the worker"
# Healthy workers keep pinging: nothing happens for 2.5 intervals.
t0=$(now_ms)
wait_until 2.5 master_log_has "hangs" && fail "a healthy worker was declared hung"
kill -STOP "$victim"
t0=$(now_ms)
wait_until 4 master_log_has "pid $victim hangs" || fail "hang not detected"
wait_until 4 master_log_has "pid $victim (generation 1) exited: signal" || fail "hung worker not killed"
replaced() { [ "$(nchildren "$MASTER")" = 2 ] && ! alive "$victim" &&
	[ "$(grep -c 'ready after' "$T/master.log")" -ge 3 ]; }
wait_until 3 replaced || fail "not replaced"
dt=$(( $(now_ms) - t0 ))
note "SIGSTOPped worker replaced after $dt ms (watchdog 1 s)"
[ "$dt" -le 2600 ] || fail "replacement took $dt ms, more than ~2 intervals"
kill -TERM "$MASTER"; wait "$MASTER"
exit 0
