#!/usr/bin/env bash
# The admin address is bound at start like a listener: taken, the start
# fails with exit 4 naming it and nothing is left running. `admin =
# unix:/path` is a socket of mode 0600 that answers, is removed at stop,
# and replaces a stale one but never another file. A reload that changes
# `admin` is refused (it needs a restart), one that changes ready_min is
# not.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
. "$(dirname "$0")/admin.sh"

# Taken: a listener of someone else on the port.
ADMIN_PORT=$(free_port)
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
open(sys.argv[2], "w").close(); time.sleep(60)' "$ADMIN_PORT" "$T/held" &
HOLDER=$!
on_exit "kill $HOLDER 2>/dev/null"
wait_until 5 test -e "$T/held" || fail "port holder"
cluster_app 2 "[cluster]" "admin = 127.0.0.1:$ADMIN_PORT"
"$CLUSTERD" run "$T/app.conf" >"$T/run.out" 2>&1
assert_eq "$?" 4 "run with the admin port taken: $(cat "$T/run.out")"
assert_contains "$(cat "$T/run.out")" "admin 127.0.0.1:$ADMIN_PORT" "message names the address"
assert_contains "$(cat "$T/run.out")" "in use" "message says why"
port_refused "$PORT" || fail "the cluster's port is still bound"
kill "$HOLDER"

# unix: 0600, answers, a reload cannot change it.
SOCK=$T/admin.sock
echo "not a socket" >"$SOCK"
cluster_app 2 "[cluster]" "admin = unix:$SOCK"
"$CLUSTERD" run "$T/app.conf" >"$T/run.out" 2>&1
assert_eq "$?" 4 "run with a file at the admin path: $(cat "$T/run.out")"
assert_contains "$(cat "$T/run.out")" "not a socket" "a file is not replaced"
assert_eq "$(cat "$SOCK")" "not a socket" "the file is kept"
rm -f "$SOCK"
start_cluster 2 "[cluster]" "admin = unix:$SOCK" "ready_min = 1"
assert_eq "$(stat -c %a "$SOCK")" 600 "admin socket mode"
assert_eq "$(curl -s --max-time 5 --unix-socket "$SOCK" http://x/readyz)" "ready 2/2" "readyz over unix:"
curl -s --max-time 5 --unix-socket "$SOCK" http://x/metrics | grep -q '^clusterd_workers_ready 2$' || fail "metrics over unix:"
cluster_app 2 "[cluster]" "admin = unix:$T/other.sock"
out=$("$CLUSTERD" reload "$T/app.conf" 2>&1)
assert_eq "$?" 1 "reload changing admin: $out"
assert_contains "$out" "changing 'admin' needs \`clusterd restart\`" "reload changing admin"
cluster_app 2 "[cluster]" "admin = unix:$SOCK" "ready_min = 50%"
out=$("$CLUSTERD" reload "$T/app.conf" 2>&1) || fail "reload changing ready_min: $out"
assert_eq "$(curl -s --max-time 5 --unix-socket "$SOCK" http://x/livez)" "ok" "livez after the reload"
stop_master_clean
[ -e "$SOCK" ] && fail "admin socket left at stop"
exit 0
