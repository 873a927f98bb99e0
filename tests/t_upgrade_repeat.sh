#!/usr/bin/env bash
# 20 upgrades in a row, alternating `clusterd upgrade` and SIGUSR2 and the
# two builds: every one keeps the master's pid and all workers, and the
# master's fd count and RSS stay flat (under ASan the RSS is not compared:
# shadow memory and quarantine; the fds still are).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
. "$(dirname "$0")/upgrade.sh"

upgrade_setup
start_cluster 2
workers=$(children "$MASTER" | sort | tr '\n' ' ')
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$MASTER/status"; }

upgrades=0
one_upgrade() {
	local to=$1 how=$2 version out n
	install_bin "$to"
	version=$("$BIN" --version | awk '{ print $2 }')
	n=$(grep -c "upgraded: clusterd" "$T/master.log")
	if [ "$how" = cmd ]; then
		out=$("$CLI" upgrade "$T/app.conf" 2>&1) ||
			fail "upgrade $upgrades: $out"
		assert_contains "$out" "-> $version (master $MASTER), 2 workers kept" "upgrade $upgrades"
	else
		kill -USR2 "$MASTER"
		wait_until 15 eval '[ "$(grep -c "upgraded: clusterd" "$T/master.log")" -gt "$n" ]' ||
			fail "SIGUSR2 upgrade $upgrades not done: $(tail -5 "$T/master.log")"
		master_log_has "upgraded: clusterd .* -> $version (master $MASTER)" ||
			fail "SIGUSR2 upgrade $upgrades: not to $version"
	fi
	upgrades=$((upgrades + 1))
	assert_eq "$(children "$MASTER" | sort | tr '\n' ' ')" "$workers" "workers after upgrade $upgrades"
}

# Two rounds first: whatever a fresh image allocates once is in place.
one_upgrade "$NEXT" cmd
one_upgrade "$OLD" sig
fds0=$(master_fds | grep -c .)
rss0=$(rss)
for i in $(seq 1 9); do
	one_upgrade "$NEXT" cmd
	one_upgrade "$OLD" sig
done
fds1=$(master_fds | grep -c .)
rss1=$(rss)
note "after 2 upgrades: $fds0 fds, RSS $rss0 KiB; after $upgrades: $fds1 fds, RSS $rss1 KiB"
assert_eq "$upgrades" 20 "upgrades done"
assert_eq "$fds1" "$fds0" "the master's fd count after 20 upgrades"
if [ -z "$SAN" ]; then
	# A fresh image each time: the RSS must not creep (allow 25% noise).
	[ "$rss1" -le $((rss0 + rss0 / 4 + 256)) ] ||
		fail "RSS grew from $rss0 to $rss1 KiB over 18 upgrades"
fi
assert_eq "$(http_get "http://127.0.0.1:$PORT/")" "hello world" "serving"
stop_master_clean
exit 0
