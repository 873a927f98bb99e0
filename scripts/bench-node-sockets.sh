#!/usr/bin/env bash
# scripts/bench-node-sockets.sh - the peer harness's Node app (app.js) under
# clusterd with `sockets = per-worker`, per-worker with steering off, and
# `sockets = shared`, beside node cluster with NODE_CLUSTER_SCHED_POLICY=none
# (workers accept on one shared socket, no master in the path). For each:
# wrk req/s (keep-alive and Connection: close), how idle the host stayed
# during the run, and the workers' CPU. Shows what per-worker SO_REUSEPORT
# queues cost a runtime whose event loop is sometimes busy: a connection
# queued on a busy worker's socket waits while the other worker idles.
#
#   scripts/bench-node-sockets.sh          ~3 min; env: REPS=2 DUR=10 N=nproc
#        PEERS_DIR=/work/shared/bench-peers (for app.js and cluster.js)
# Loopback only; every process started here runs in its own process group
# and is stopped on exit.
set -uo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
PEERS_DIR=${PEERS_DIR:-/work/shared/bench-peers}
REPS=${REPS:-2} DUR=${DUR:-10} N=${N:-$(nproc)}
CLUSTERD=$ROOT/${BUILD:-build/rel}/clusterd
[ -x "$CLUSTERD" ] || { echo "no $CLUSTERD: make first" >&2; exit 1; }
[ -f "$PEERS_DIR/app.js" ] || { echo "no $PEERS_DIR/app.js (PEERS_DIR=...)" >&2; exit 1; }
command -v node >/dev/null && command -v wrk >/dev/null || { echo "need node and wrk" >&2; exit 1; }

W=$(mktemp -d /tmp/clusterd-nodesock.XXXXXX)
LEADERS=()
cleanup() {
	local p i
	for p in "${LEADERS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for ((i = 0; i < 100; i++)); do
		for p in "${LEADERS[@]}"; do kill -0 "$p" 2>/dev/null && break; done
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	for p in "${LEADERS[@]}"; do kill -KILL -- "-$p" 2>/dev/null; done
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
kids() { cat /proc/"$1"/task/*/children 2>/dev/null; }
ticks() { local t=0 p s; for p in "$@"; do s=$(cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null) || continue; set -- $s; t=$((t + $1 + $2)); done; echo $t; }
conf() { # name sockets port
	cat >"$W/$1.conf" <<-EOF
	[cluster]
	name = $1
	workers = $N
	control = $W/$1.sock
	pidfile = $W/$1.pid
	[listen]
	address = 127.0.0.1:$3
	sockets = $2
	[worker]
	command = node $PEERS_DIR/app.js
	ready = delay
	ready_delay = 300ms
	EOF
}
declare -A P M
SETUPS="per-worker no-steer shared node-schednone"
for s in $SETUPS; do P[$s]=$(port); done
conf per-worker per-worker "${P[per-worker]}"
conf no-steer per-worker "${P[no-steer]}"
conf shared shared "${P[shared]}"
setsid "$CLUSTERD" run "$W/per-worker.conf" >"$W/per-worker.log" 2>&1 </dev/null & M[per-worker]=$!
setsid env CLUSTERD_NO_STEER=1 "$CLUSTERD" run "$W/no-steer.conf" >"$W/no-steer.log" 2>&1 </dev/null & M[no-steer]=$!
setsid "$CLUSTERD" run "$W/shared.conf" >"$W/shared.log" 2>&1 </dev/null & M[shared]=$!
setsid env NODE_CLUSTER_SCHED_POLICY=none PORT="${P[node-schednone]}" WORKERS="$N" \
	node "$PEERS_DIR/cluster.js" >"$W/node.log" 2>&1 </dev/null & M[node-schednone]=$!
for s in $SETUPS; do LEADERS+=("${M[$s]}"); done
for s in $SETUPS; do	# up: N children and an answer
	for ((i = 0; i < 200; i++)); do
		[ "$(kids "${M[$s]}" | wc -w)" -ge "$N" ] &&
			curl -sf --max-time 1 -o /dev/null "http://127.0.0.1:${P[$s]}/" && break
		sleep 0.05
	done
done
sleep 1

echo "node app.js, $N workers, wrk -t1 -c64 -d${DUR}s, $REPS run(s) each, interleaved; $(nproc) CPUs shared with wrk"
printf '%-15s %-9s %4s %9s %11s %12s\n' setup mode run 'req/s' 'host idle%' 'workers CPU%'
for ((rep = 1; rep <= REPS; rep++)); do
	for mode in close keepalive; do
		for s in $SETUPS; do
			h=(); [ $mode = close ] && h=(-H 'Connection: close')
			ws=$(kids "${M[$s]}")
			read -r _ a b c d e f g h2 _ < <(grep '^cpu ' /proc/stat)
			w0=$(ticks $ws)
			r=$(timeout $((DUR + 20)) wrk -t1 -c64 -d"${DUR}s" "${h[@]}" "http://127.0.0.1:${P[$s]}/" |
				awk '/Requests\/sec/ { printf "%d", $2 }')
			w1=$(ticks $ws)
			read -r _ a2 b2 c2 d2 e2 f2 g2 h3 _ < <(grep '^cpu ' /proc/stat)
			tot=$(( (a2 + b2 + c2 + d2 + e2 + f2 + g2 + h3) - (a + b + c + d + e + f + g + h2) ))
			idle=$(( d2 + e2 - d - e ))
			printf '%-15s %-9s %4s %9s %10s%% %11s%%\n' "$s" "$mode" "$rep" "$r" \
				"$((100 * idle / tot))" "$((100 * (w1 - w0) / (tot > 0 ? tot : 1)))"
			sleep 0.3
		done
	done
done
echo "(workers CPU% and host idle% are of all $(nproc) CPUs; node-schednone: node cluster.js with NODE_CLUSTER_SCHED_POLICY=none)"
