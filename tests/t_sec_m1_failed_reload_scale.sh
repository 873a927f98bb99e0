#!/usr/bin/env bash
# M1 (reload side): a reload that changes `workers` (2 -> 3) and the
# address, with a command that cannot run, fails, and the old worker count
# stays with the old configuration: no third slot is left running the old
# command on a socket it was never given.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

conf() {	# conf WORKERS PORT COMMAND
	cluster_app "$1" "command = $3" "[listen]" "address = 127.0.0.1:$2"
}
PORT=$(free_port)
P2=$(free_port)
conf 2 "$PORT" "$WORKER"
run_cluster "$T/app.conf"
wait_started
conf 3 "$P2" "/nonexistent/worker"
kill -HUP "$MASTER"
wait_until 10 master_log_has "reload to generation 2 failed" ||
	fail "reload did not fail: $(tail -5 "$T/master.log")"
js() { "$CLUSTERD" status "$T/app.conf" --json |
	python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
assert_eq "$(js 'd["wanted"]')" 2 "wanted workers after the failed reload"
# Slot 2 (started by the failed reload) goes; slots 0 and 1 serve.
wait_until 5 eval '[ "$(js "sorted(set(w[\"slot\"] for w in d[\"workers\"] if w[\"pid\"]))")" = "[0, 1]" ]' ||
	fail "slots after the failed reload: $(js 'd["workers"]')"
for i in 1 2 3 4 5 6; do
	http_ok "http://127.0.0.1:$PORT/" || fail "old address does not answer"
done
kill -TERM "$MASTER"; wait "$MASTER"
exit 0
