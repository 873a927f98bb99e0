#!/usr/bin/env bash
# An upgrade while the cluster is in motion. The "new binary" is a wrapper
# that answers --upgrade-check only once the test lets it (go), so that
# things happen during the upgrade:
#  1. a slot in backoff (restart_delay 4s) keeps what was left of its
#     timer: still in backoff right after the upgrade, respawned by the new
#     image later; a slot whose worker is starting (ready after 3 s)
#     becomes ready under the new image;
#  2. a reload asked during the upgrade waits for it and is answered by
#     the new image; an upgrade asked during a reload waits for the reload;
#  3. SIGTERM during the upgrade: the new image stops the cluster.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
. "$(dirname "$0")/upgrade.sh"

upgrade_setup
cat >"$T/slow-next" <<EOF
#!/bin/sh
if [ "\$1" = --upgrade-check ]; then
	i=0
	while [ ! -e "$T/go" ] && [ \$i -lt 90 ]; do sleep 0.1; i=\$((i + 1)); done
	rm -f "$T/go"
fi
exec "$NEXT" "\$@"
EOF
go() { touch "$T/go"; }
start_cluster 3 "command = $WORKER --ready-delay-ms 3000" \
	"restart_delay = 4s" "restart_delay_max = 4s"
install_bin "$T/slow-next"

# upgrade_bg: `clusterd upgrade` in the background ($UPG), once the master
# runs the check.
upgrade_bg() {
	local n
	n=$(grep -c "upgrade: asking" "$T/master.log")
	"$CLI" upgrade "$T/app.conf" >"$T/upgrade.out" 2>&1 &
	UPG=$!
	wait_until 10 eval '[ "$(grep -c "upgrade: asking" "$T/master.log")" -gt "$n" ]' ||
		fail "the upgrade did not start: $(tail -5 "$T/master.log")"
}

# 1. A slot in backoff, and one starting.
victim=$(slot_pid 2)
kill -9 "$victim"
wait_until 5 eval '"$CLI" status "$T/app.conf" | grep -q "backoff"' ||
	fail "slot 2 not in backoff"
"$CLI" scale "$T/app.conf" 4 >/dev/null || fail "scale to 4"
upgrade_bg
go
wait "$UPG" || fail "upgrade: $(cat "$T/upgrade.out")"
assert_contains "$(cat "$T/upgrade.out")" "-> $NEXT_VERSION (master $MASTER)" "upgrade with a slot in backoff"
st=$("$CLI" status "$T/app.conf")
note "$st"
assert_contains "$(echo "$st" | awk '$1 == 2')" "backoff" "slot 2 still backs off after the upgrade"
assert_contains "$(echo "$st" | awk '$1 == 3')" "starting" "slot 3 still starting after the upgrade"
wait_until 20 eval '"$CLI" status "$T/app.conf" | grep -q "4/4 workers ready"' ||
	fail "not 4/4 ready after the upgrade: $("$CLI" status "$T/app.conf")"
master_log_has "slot 2: backoff -\[backoff done\]-> starting" ||
	fail "slot 2 not respawned from its backoff"
assert_contains "$(slot_table)" "2:$(slot_pid 2):1:1:ready" "slot 2 respawned, restart counted once"

master_log_has "slot 3: starting -\[ready\]-> ready" || fail "slot 3 never ready"

# 2. A reload during the upgrade waits for it; an upgrade during a reload
# waits for the reload.
sed -i "s|^command = .*|command = $WORKER|" "$T/app.conf"
upgrade_bg
"$CLI" reload "$T/app.conf" >"$T/reload.out" 2>&1 &
RL=$!
wait_until 8 master_log_has "reload waits for the upgrade" ||
	fail "the reload did not wait: $(tail -5 "$T/master.log")"
go
wait "$UPG" || fail "upgrade: $(cat "$T/upgrade.out")"
wait "$RL" || fail "reload after the upgrade: $(cat "$T/reload.out")"
assert_contains "$(cat "$T/reload.out")" "reloaded: generation 2, 3/3 workers" "the held reload (the file says 3)"
grep -n "upgraded: clusterd\|reload: generation 2" "$T/master.log" | tail -2 | head -1 |
	grep -q "upgraded" || fail "the reload ran before the upgrade was done"

# A reload that takes a while (ready after 1.5 s per worker), then an upgrade.
sed -i "s|^command = .*|command = $WORKER --ready-delay-ms 1500|" "$T/app.conf"
"$CLI" reload "$T/app.conf" >"$T/reload.out" 2>&1 &
RL=$!
wait_until 10 master_log_has "reload: generation 3" || fail "reload 3 did not start"
"$CLI" upgrade "$T/app.conf" >"$T/upgrade.out" 2>&1 &
UPG=$!
wait_until 10 master_log_has "upgrade: after the reload under way" ||
	fail "the upgrade did not wait for the reload"
go
wait "$RL" || fail "reload 3: $(cat "$T/reload.out")"
wait "$UPG" || fail "upgrade after the reload: $(cat "$T/upgrade.out")"
assert_contains "$(slot_table)" ":3:" "generation 3 runs after the upgrade"

# 3. SIGTERM during the upgrade: the new image stops.
upgrade_bg
kill -TERM "$MASTER"
wait_until 8 master_log_has "TERM waits for the upgrade" || fail "SIGTERM did not wait"
go
wait "$UPG" || fail "upgrade: $(cat "$T/upgrade.out")"
wait "$MASTER"
assert_eq "$?" 0 "master exit status after SIGTERM during the upgrade"
master_log_has "stopping: SIGTERM" || fail "the new image did not stop on SIGTERM"
exit 0
