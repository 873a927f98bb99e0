# tests/real-systemd/upgrade.sh - sourced by run.sh while clusterd@demo
# runs: a package-style replacement of /usr/bin/clusterd (a new file renamed
# over it), then `clusterd upgrade` and `systemctl kill --kill-who=main -s
# USR2`: the unit stays active with the same MainPID and workers, serves
# throughout, and its StatusText says it upgraded.
U=clusterd@demo.service
MAIN=$(prop "$U" MainPID)
up_kids() { ct sh -c "cat /proc/$MAIN/task/*/children" | tr ' ' '\n' | grep . | sort | tr '\n' ' '; }
up_kids0=$(up_kids)
ct sh -c 'cp /usr/bin/clusterd /usr/bin/.clusterd.new && mv -f /usr/bin/.clusterd.new /usr/bin/clusterd'
rm -f "$W/stop"
python3 "$ROOT/tests/load.py" --port "$P" --conc 4 --duration 30 \
	--stop-file "$W/stop" >"$W/load.json" 2>&1 &
LOADPID=$!
out=$(ct clusterd upgrade /etc/clusterd/demo.conf 2>&1); rc=$?
check "clusterd upgrade under systemd: rc $rc: $out" test "$rc" = 0
check "upgrade: MainPID unchanged ($MAIN)" test "$(prop "$U" MainPID)" = "$MAIN"
check "upgrade: active" state_is "$U" active
check "upgrade: the master runs the new /usr/bin/clusterd" \
	test "$(ct readlink "/proc/$MAIN/exe")" = /usr/bin/clusterd
check "upgrade: workers kept ($up_kids0)" test "$(up_kids)" = "$up_kids0"
log "StatusText: $(prop "$U" StatusText)"
check "upgrade: StatusText says it upgraded" \
	grep -q "upgraded: clusterd .* (master $MAIN), 2 workers kept" <<<"$(prop "$U" StatusText)"
ct systemctl kill --kill-who=main -s USR2 "$U"
up_twice() { [ "$(ct journalctl -u "$U" -o cat --no-pager | grep -c "upgraded: clusterd")" -ge 2 ]; }
check "SIGUSR2 (systemctl kill --kill-who=main): upgraded again" wait_for 15 up_twice
check "SIGUSR2: MainPID and workers unchanged" \
	test "$(prop "$U" MainPID)" = "$MAIN" -a "$(up_kids)" = "$up_kids0"
touch "$W/stop"; wait "$LOADPID"; LOADPID=
log "load during the upgrades: $(cat "$W/load.json")"
check "no failed request during the upgrades" python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["ok"] > 0 and r["non2xx"] == 0 and
    all(r.get(k, 0) == 0 for k in ("refused", "reset", "timeout", "other"))))' "$W/load.json"

# Under WatchdogSec=2s, upgrades in a row miss no ping (one is sent right
# before execve and one as soon as the new image runs).
ct mkdir -p "/etc/systemd/system/$U.d"
ct sh -c "printf '[Service]\nWatchdogSec=2s\n' >/etc/systemd/system/$U.d/upgrade-watchdog.conf"
ct systemctl daemon-reload
ct systemctl restart "$U"
wait_for 10 state_is "$U" active
MAIN=$(prop "$U" MainPID)
up_restarts=$(prop "$U" NRestarts)
up_fails=0
for up_i in 1 2 3 4 5 6; do
	ct clusterd upgrade /etc/clusterd/demo.conf >/dev/null 2>&1 || up_fails=$((up_fails + 1))
done
sleep 3		# 1.5 x WatchdogSec after the last upgrade
check "WatchdogSec=2s: 6 upgrades ($up_fails failed), not restarted, same MainPID" \
	test "$up_fails" = 0 -a "$(prop "$U" NRestarts)" = "$up_restarts" -a "$(prop "$U" MainPID)" = "$MAIN"
ct rm -f "/etc/systemd/system/$U.d/upgrade-watchdog.conf"
ct systemctl daemon-reload
