#!/usr/bin/env bash
# M2: max_memory replacements racing a reload. Every worker is above
# max_memory (100K), so slots are replaced all the time, each replacement
# taking ready_delay (2 s); a reload changes the command meanwhile. After
# it no worker of the old command may be left (none orphaned, never told
# to stop), and every worker labelled generation 2 runs the new command.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

conf() {	# conf SECONDS: the worker is /bin/sleep SECONDS
	cluster_app 2 "command = /bin/sleep $1" "ready = delay" \
		"ready_delay = 2s" "max_memory = 100K" "[listen]" \
		"address = 127.0.0.1:$PORT"
}
cmd_of() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null; }
old_left() {
	local p
	for p in $(children "$MASTER"); do
		[ "$(cmd_of "$p")" = "/bin/sleep 1000 " ] && return 0
	done
	return 1
}
PORT=$(free_port)
conf 1000
run_cluster "$T/app.conf"
wait_started 15
wait_until 5 master_log_has "above max_memory" || fail "no max_memory replacement"
conf 2000
kill -HUP "$MASTER"
wait_until 30 master_log_has "reloaded: generation 2" ||
	fail "reload did not finish: $(tail -5 "$T/master.log")"
# Old workers still draining get SIGTERM, which ends a sleep at once.
wait_until 5 eval '! old_left' ||
	fail "an old-command worker is left: $(for p in $(children "$MASTER"); do echo "$p: $(cmd_of "$p")"; done)"
"$CLUSTERD" status "$T/app.conf" --json >"$T/st.json" || fail "status"
for p in $(python3 -c 'import json,sys; print(" ".join(str(w["pid"]) for w in json.load(open(sys.argv[1]))["workers"] if w["generation"] == 2 and w["pid"]))' "$T/st.json"); do
	c=$(cmd_of "$p")
	[ -z "$c" ] || [ "$c" = "/bin/sleep 2000 " ] ||
		fail "pid $p labelled generation 2 runs '$c'"
done
kill -TERM "$MASTER"; wait "$MASTER"
exit 0
