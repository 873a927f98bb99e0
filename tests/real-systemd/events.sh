# tests/real-systemd/events.sh - sourced by run.sh (its helpers: ct, check,
# log, free_port, http_ok, wait_for, state_is): the journal fields of
# clusterd@ev: worker lines with PRIORITY 6 (stdout) / 4 (stderr), a
# burst of 300 lines kept whole,
# SYSLOG_IDENTIFIER = the cluster's name and CLUSTERD_SLOT /
# CLUSTERD_WORKER_PID / CLUSTERD_GENERATION, so that CLUSTERD_SLOT=1 shows
# slot 1 alone; then journald SIGSTOPped: the master goes on supervising
# (a killed worker is replaced, `status` answers), and once journald runs
# again the journal says how many lines were dropped.

EVP=$(free_port)
EVU=clusterd@ev.service
ct sh -c "cat >/etc/clusterd/ev.conf" <<EOF
[cluster]
workers = 2

[listen]
address = 127.0.0.1:$EVP

[worker]
command = /bin/sh -c 'echo "ev stdout of slot \$CLUSTERD_WORKER"; echo "ev stderr of slot \$CLUSTERD_WORKER" >&2; seq -f "ev burst %g of slot \$CLUSTERD_WORKER" 300 >&2; if [ -e /run/clusterd-ev-spew ]; then seq -f "ev spew %g" 20000 >&2; fi; exec /usr/bin/clusterd-worker'
ready = notify
restart_delay = 50ms
EOF
ct systemctl start "$EVU"; rc=$?
check "events: systemctl start $EVU: rc $rc" test "$rc" = 0
check "events: $EVU serving" http_ok "$EVP"
ev_journal() { ct journalctl -u "$EVU" --no-pager "$@"; }
ev_has_slot1() { ev_journal -o cat CLUSTERD_SLOT=1 | grep -q "ev burst 300 of slot 1"; }
wait_for 10 ev_has_slot1
s1=$(ev_journal -o cat CLUSTERD_SLOT=1)
log "events: journalctl -u $EVU CLUSTERD_SLOT=1: $(wc -l <<<"$s1") lines: $(head -4 <<<"$s1" | tr '\n' '|')"
check "events: CLUSTERD_SLOT=1 has slot 1's worker lines and the master's lines about slot 1" \
	bash -c 'grep -q "^ev stdout of slot 1$" <<<"$1" && grep -q "^ev stderr of slot 1$" <<<"$1" &&
		grep -q "^slot 1: started pid" <<<"$1"' _ "$s1"
check "events: CLUSTERD_SLOT=1 shows nothing of slot 0" \
	bash -c '! grep -q "slot 0" <<<"$1"' _ "$s1"
# A burst (300 lines at once, more than journald's socket queues) with
# journald running: none lost.
check "events: a burst of 300 stderr lines, all in the journal: $(grep -c '^ev burst' <<<"$s1")" \
	test "$(grep -c '^ev burst [0-9]* of slot 1$' <<<"$s1")" = 300
ev_fields() {
	ev_journal -o json CLUSTERD_SLOT=1 | python3 -c 'import json, sys
for l in sys.stdin:
    e = json.loads(l)
    if e.get("MESSAGE") == sys.argv[1]:
        print(e.get("PRIORITY"), e.get("SYSLOG_IDENTIFIER"), e.get("CLUSTERD_SLOT"),
            e.get("CLUSTERD_WORKER_PID"), e.get("CLUSTERD_GENERATION"))
        break' "$1"
}
ev_pid1() {
	ct timeout 5 clusterd status /etc/clusterd/ev.conf --json | python3 -c 'import json, sys
w = [w for w in json.load(sys.stdin)["workers"] if w["slot"] == 1 and w["state"] == "ready"]
print(w[0]["pid"] if w else "")' 2>/dev/null
}
f_err=$(ev_fields "ev stderr of slot 1") f_out=$(ev_fields "ev stdout of slot 1")
pid1=$(ev_pid1)
log "events: stderr entry: $f_err; stdout entry: $f_out (slot 1 pid $pid1)"
check "events: a worker's stderr line: PRIORITY 4, SYSLOG_IDENTIFIER ev, its slot, pid, generation" \
	test "$f_err" = "4 ev 1 $pid1 1"
check "events: a worker's stdout line: PRIORITY 6" test "$f_out" = "6 ev 1 $pid1 1"

# journald stopped: the master must not block on it.
jd=$(ct pidof systemd-journald)
evmain=$(ct systemctl show -p MainPID --value "$EVU")
ct sh -c "kill -STOP $jd"
# While journald is stopped, the replacement of a killed worker prints
# 20,000 lines: more than the master keeps waiting for journald (256 KiB).
ct touch /run/clusterd-ev-spew
ct sh -c "kill -9 $pid1"
ev_respawned() { local p; p=$(ev_pid1); [ -n "$p" ] && [ "$p" != "$pid1" ]; }
t=$(date +%s%N)
wait_for 15 ev_respawned
check "events: journald stopped: slot 1 replaced (pid $pid1 -> $(ev_pid1)) and status answers, $(ms_since "$t") ms" ev_respawned
ct rm -f /run/clusterd-ev-spew
ct sh -c "kill -CONT $jd"
ev_counted() { ev_journal -o cat | grep -q "dropped: the journal could not take them"; }
# The count goes out as soon as journald has room again.
wait_for 15 ev_counted
check "events: after journald resumed, the dropped lines are counted in the journal" ev_counted
log "events: $(ev_journal -o cat | grep 'could not take them' | head -1)"
# What fitted in the master's queue came through late, not lost: the kill.
check "events: the lines logged while journald was stopped, up to the bound, arrived" \
	bash -c 'grep -q "^slot 1: pid $2 (generation 1) exited: signal 9" <<<"$1"' _ "$(ev_journal -o cat)" "$pid1"
ct systemctl stop "$EVU"
check "events: $EVU stopped" state_is "$EVU" inactive
