# tests/servers.sh - a real server under clusterd, as clusterd.8 SERVERS
# claims it behaves; sourced after lib.sh and cluster.sh by t_server_*.sh.
#
#   server_claims NAME READY COMMAND [new-conn-lossless]
# starts 2 workers of COMMAND (in worker/examples) with READY, and checks:
# both slots answer; a reload under keep-alive load with a client that
# retries a GET once when a reused connection is closed under it loses no
# request (and, with new-conn-lossless, a reload under a new connection
# per request loses none either) and puts every slot on the new generation;
# a stop with a request in flight answers it with 200 and exits 0.
PY=/usr/bin/python3	# Debian's, with its uvicorn and gunicorn

server_reload() {	# server_reload GEN OUT LOADARGS...: SIGHUP under load
	local gen=$1 out=$2; shift 2
	$PY "$ROOT/tests/load.py" --port "$PORT" --duration 5 --conc 8 "$@" >"$out" &
	local load=$!
	wait_until 5 eval "ss -tnH state established '( dport = :$PORT )' | grep -q ." ||
		fail "load did not connect"
	kill -HUP "$MASTER"
	wait_until 30 master_log_has "reloaded: generation $gen" ||
		fail "reload to generation $gen: $(grep -E 'reload|error' "$T/master.log" | tail -5)"
	wait "$load"
	note "reload $gen ($*): $(cat "$out")"
}

server_claims() {
	local name=$1 ready=$2 cmd=$3 lossless=${4:-} p slots
	NAME=$name cluster_app 2 "directory = $ROOT/worker/examples" "command = $cmd" \
		"ready = $ready" "ready_delay = 1s" "ready_timeout = 30s" "stop_timeout = 10s"
	run_cluster "$T/$name.conf"
	wait_started 40
	slots=$(for i in 1 2 3 4 5 6 7 8; do http_headers "http://127.0.0.1:$PORT/" | header_of X-Worker-Slot; done | sort -u | tr '\n' ' ')
	[ -n "$slots" ] || fail "$name does not answer"

	server_reload 2 "$T/ka.json" --keepalive --retry
	[ "$(load_field failed "$T/ka.json")" = 0 ] && [ "$(load_field ok "$T/ka.json")" -gt 50 ] ||
		fail "$name: keep-alive reload with a retrying client lost requests"
	local gen=2
	if [ -n "$lossless" ]; then
		server_reload 3 "$T/close.json"
		[ "$(load_field failed "$T/close.json")" = 0 ] && [ "$(load_field ok "$T/close.json")" -gt 50 ] ||
			fail "$name: new-connection reload lost requests"
		gen=3
	fi
	# Every worker now runs the new generation (old ones may still drain).
	wait_until 15 eval '[ "$("$CLUSTERD" status "$T/$name.conf" | awk -v g='$gen' '\''$1 ~ /^[0-9]+$/ && $3 == g && $4 == "ready"'\'' | wc -l)" = 2 ]' ||
		fail "$name: not every slot on generation $gen: $("$CLUSTERD" status "$T/$name.conf")"

	curl -s --max-time 10 -o /dev/null -w '%{http_code}' \
		"http://127.0.0.1:$PORT/slow?ms=1500" >"$T/slow.code" &
	local c=$!
	wait_until 5 eval '[ "$(conns_accepted "$PORT")" -ge 1 ]' || fail "$name: slow request not accepted"
	kill -TERM "$MASTER"
	wait "$c"
	assert_eq "$(cat "$T/slow.code")" 200 "$name: request in flight during stop"
	wait "$MASTER"
	assert_eq "$?" 0 "$name: master exit code"
	MASTER=
}
