#!/usr/bin/env bash
# kill -9 of the master: every worker exits by itself within 2 s
# (PR_SET_PDEATHSIG) and a new `clusterd run` binds the same port.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

start_cluster 2
pids=$(children "$MASTER")
t0=$(now_ms)
kill -9 "$MASTER"
gone() { local p; for p in $pids; do alive "$p" && return 1; done; return 0; }
wait_until 2 gone || fail "workers still alive 2 s after the master died: $pids"
note "workers gone after $(( $(now_ms) - t0 )) ms"
wait "$MASTER" 2>/dev/null
run_cluster "$T/app.conf"
wait_started
assert_eq "$(http_get "http://127.0.0.1:$PORT/")" "hello world" "new cluster serves"
kill -TERM "$MASTER"; wait "$MASTER"
exit 0
