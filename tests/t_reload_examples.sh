#!/usr/bin/env bash
# Zero-downtime reload with the example workers: Python (stdlib, READY=1
# itself) and Node (server.listen({fd: 3}), READY=1 via systemd-notify):
# SIGHUP under keep-alive load fails no request, every slot ends on
# generation 2 with a new pid.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

reload_with() {	# reload_with NAME COMMAND
	local name=$1 cmd=$2 old p
	NAME=$name cluster_app 2 "command = $cmd"
	: >"$T/master.log"
	run_cluster "$T/$name.conf"
	wait_started 15
	old=$(children "$MASTER" | sort | tr '\n' ' ')
	python3 "$ROOT/tests/load.py" --port "$PORT" --duration 5 --conc 8 --keepalive >"$T/$name.json" &
	local load=$!
	wait_until 3 eval "ss -tn state established '( dport = :$PORT )' | grep -q $PORT"
	kill -HUP "$MASTER"
	wait_until 20 master_log_has "reloaded: generation 2" || fail "$name: reload: $(grep -E 'reload|error' "$T/master.log" | tail)"
	wait "$load"
	note "$name: $(cat "$T/$name.json")"
	[ "$(load_field failed "$T/$name.json")" = 0 ] && [ "$(load_field ok "$T/$name.json")" -gt 100 ] ||
		fail "$name: requests failed during the reload"
	for p in $(children "$MASTER"); do
		case " $old " in *" $p "*) continue ;; esac	# still draining?
		assert_contains "$(tr '\0' '\n' <"/proc/$p/environ")" "CLUSTERD_GENERATION=2" "$name generation"
	done
	kill -TERM "$MASTER"; wait "$MASTER"
}

reload_with python "python3 $ROOT/worker/examples/server.py"
if command -v node >/dev/null && command -v systemd-notify >/dev/null; then
	reload_with node "node $ROOT/worker/examples/server.js"
else
	echo "node example: skipped (node or systemd-notify missing)" >&2
fi
exit 0
