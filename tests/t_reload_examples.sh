#!/usr/bin/env bash
# Zero-downtime reload with the example workers: Python (stdlib, READY=1
# itself) and Node (server.listen({fd: 3}), READY=1 via systemd-notify):
# SIGHUP under keep-alive load fails no request, every slot ends on
# generation 2 with a new pid.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

reload_with() {	# reload_with NAME COMMAND
	local name=$1 cmd=$2 old p
	PORT=$(free_port)
	NAME=$name WORKERS=2 cluster_conf "$T/$name.conf" <<EOF
[listen]
address = 127.0.0.1:$PORT
[worker]
command = $cmd
ready = notify
EOF
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
	python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["failed"] == 0 and r["ok"] > 100, r' "$T/$name.json" ||
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
