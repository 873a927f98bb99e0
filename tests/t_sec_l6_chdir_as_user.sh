#!/usr/bin/env bash
# L6: a `user =` worker enters `directory` after it has become that user,
# not as root: a directory only root may enter fails the start (exit 126,
# the reason in the log) instead of giving the worker a working directory
# it could never reach itself. A directory the user may enter works.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

[ "$(id -u)" = 0 ] || skip "needs root"
id nobody >/dev/null 2>&1 || skip "no user nobody"
chmod 755 "$T"
mkdir -m 755 "$T/open"
mkdir -m 700 "$T/secret"

conf() {	# conf DIR
	PORT=$(free_port)
	WORKERS=1 cluster_conf "$T/app.conf" <<EOC
user = nobody
[listen]
address = 127.0.0.1:$PORT
[worker]
command = $WORKER
directory = $1
ready = notify
EOC
}

# A directory nobody may enter: the worker's cwd is that directory.
conf "$T/open"
run_cluster "$T/app.conf"
wait_started
w=$(children "$MASTER" | head -1)
assert_eq "$(readlink "/proc/$w/cwd")" "$T/open" "cwd of the worker"
kill -TERM "$MASTER"; wait "$MASTER"

# Root's own directory: refused, the start fails at once.
conf "$T/secret"
timeout 10 "$CLUSTERD" run "$T/app.conf" >"$T/master.log" 2>&1
rc=$?
sed 's/^/  /' "$T/master.log" | grep -i 'chdir\|exit code\|start failed'
assert_eq "$rc" 1 "clusterd run with a directory the user may not enter"
master_log_has "chdir $T/secret: Permission denied" || fail "no chdir error logged"
master_log_has "exit code 126" || fail "worker did not exit 126"
exit 0
