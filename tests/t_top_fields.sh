#!/usr/bin/env bash
# What top makes of the status it is given, from a stand-in master on a
# control socket (python3, our own uid): CPU % from two cpu_s readings (a
# worker that burns half a CPU shows about 50, a draining one beside it
# its own), a new pid starts its CPU % over ("-"), queued shown when a
# number and "-" when null or absent, control characters in any field never
# reach the terminal, a window too small for every row says how many are
# left; an answer that is not the status object, or none within 5 s, ends
# top with exit 1.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip "python3 missing"

cat >"$T/fake.py" <<'PY'
import json, os, socket, sys, time
path, mode = sys.argv[1], sys.argv[2]
t0 = time.monotonic()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(8)
n = 0
while True:
    c, _ = s.accept()
    n += 1
    try:
        c.recv(512)
        now = time.monotonic() - t0
        if mode == "once" and n > 1:
            time.sleep(30)	# a master that stopped answering
            continue
        if mode == "huge":
            big = 1e300
            st = {"name": "huge", "master_pid": big, "generation": -big,
                  "uptime_s": big, "state": "running", "wanted": big,
                  "ready": 1.5, "listen": [1, None, {"a": []}],
                  "workers": [{"slot": big, "pid": big, "generation": big,
                               "uptime_s": -big, "state": 7,
                               "restarts": big, "last_exit": ["x"],
                               "rss_bytes": big, "receiving": "yes",
                               "cpu_s": big, "queued": -big}] * 3}
            c.sendall(b"0\n" + json.dumps(st).encode() + b"\n")
            continue
        if mode == "garbage":
            c.sendall(b'0\n{"name":"x","workers":[{"slot":0,\x00\n')
            continue
        w = [
            # half a CPU, all along
            {"slot": 0, "pid": 1000, "generation": 2, "uptime_s": 5.0,
             "state": "ready", "restarts": 0, "last_exit": None,
             "rss_bytes": 3 << 20, "receiving": True,
             "cpu_s": 10 + now * 0.5, "queued": 7},
            # its predecessor, draining beside it: a rate of its own
            {"slot": 0, "pid": 999, "generation": 1, "uptime_s": 9.0,
             "state": "draining", "restarts": 0, "last_exit": None,
             "rss_bytes": 3 << 20, "receiving": False,
             "cpu_s": 1 + now * 0.25, "queued": 0},
            # a new pid on every answer: no rate, ever
            {"slot": 1, "pid": 2000 + n, "generation": 2, "uptime_s": 0.1,
             "state": "starting", "restarts": 3,
             "last_exit": "signal 11 (SEGV)\x1b[2J\x07",
             "rss_bytes": 0, "receiving": False, "cpu_s": 99.0,
             "queued": None},
            # neither field
            {"slot": 2, "pid": None, "generation": None, "uptime_s": None,
             "state": "backoff", "restarts": 1, "last_exit": "code 3",
             "rss_bytes": 0, "receiving": False},
        ]
        st = {"name": "fa\x1bke", "file": "/x.conf", "master_pid": 4242,
              "generation": 2, "uptime_s": 61.0, "state": "running",
              "reloading": False, "wanted": 3, "ready": 1,
              "listen": ["127.0.0.1:1\x1b]0;pwned\x07"], "workers": w}
        c.sendall(b"0\n" + json.dumps(st).encode() + b"\n")
    except OSError:
        pass
    finally:
        c.close()
PY
bg_run python3 "$T/fake.py" "$T/fake.sock" good
wait_until 5 test -S "$T/fake.sock" || fail "the stand-in master did not start"

"$CLUSTERD" -s "$T/fake.sock" top >"$T/frame" 2>"$T/err"
assert_eq "$?" 0 "top's exit status"
note "$(cat "$T/frame")"
grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$T/frame" && fail "control characters in the frame"
assert_eq "$(head -1 "$T/frame")" "fa?ke: master 4242, up 1m01s, generation 2, 1/3 workers ready (running)" "header"
assert_eq "$(sed -n 2p "$T/frame")" "listen: 127.0.0.1:1?]0;pwned?" "listen line"
row() { awk -v s="$1" '$1 == s' "$T/frame" | head -1; }
drain=$(awk '$1 == 0 && $4 == "draining"' "$T/frame")
[[ $drain =~ ^0\ +999\ +1\ +draining\ +9s\ +0\ +([0-9.]+)\ +3\.0M\ +0\ +no\ +-$ ]] ||
	fail "the draining row of slot 0: '$drain'"
awk -v c="${BASH_REMATCH[1]}" 'BEGIN { exit !(c >= 15 && c <= 35) }' ||
	fail "the draining worker burns a quarter of a CPU, top says ${BASH_REMATCH[1]}"
cpu0=$(row 0 | awk '{ print $7 }')
awk -v c="$cpu0" 'BEGIN { exit !(c >= 35 && c <= 65) }' ||
	fail "slot 0 burns half a CPU, top says '$cpu0': $(row 0)"
[[ $(row 0) =~ ^0\ +1000\ +2\ +ready\ +5s\ +0\ +[0-9.]+\ +3\.0M\ +7\ +yes\ +-$ ]] ||
	fail "slot 0's row: '$(row 0)'"
[[ $(row 1) =~ ^1\ +[0-9]+\ +2\ +starting\ +0s\ +3\ +-\ +-\ +-\ +no\ +SIGSEGV\?\[2J\?$ ]] ||
	fail "slot 1's row (new pid: no CPU %, queued null): '$(row 1)'"
[[ $(row 2) =~ ^2\ +-\ +-\ +backoff\ +-\ +1\ +-\ +-\ +-\ +no\ +code\ 3$ ]] ||
	fail "slot 2's row (no cpu_s, no queued): '$(row 2)'"

# In a terminal too small for every row: the rows left are counted on the
# last line but one (above the clock). Needs tmux, else said and skipped.
if command -v tmux >/dev/null; then
	TM=(tmux -S "$T/tmux.sock")
	on_exit '"${TM[@]}" kill-server 2>/dev/null'
	"${TM[@]}" new-session -d -x 80 -y 8 -s top \
		"exec '$CLUSTERD' -s '$T/fake.sock' top" || fail "tmux new-session"
	wait_until 10 eval "${TM[*]} capture-pane -p -t top | grep -q '^\\.\\.\\. 2 more rows (the window is too small)\$'" ||
		fail "8 lines: no count of the rows left: $("${TM[@]}" capture-pane -p -t top)"
	"${TM[@]}" capture-pane -p -t top >"$T/small"
	assert_eq "$(sed -n 5p "$T/small" | awk '{ print $1, $2 }')" "0 1000" "first row at 8 lines"
	assert_eq "$(sed -n 6p "$T/small" | awk '{ print $1, $2 }')" "0 999" "second row at 8 lines"
	sed -n 8p "$T/small" | grep -q 'q: quit$' || fail "no clock line at 8 lines: $(cat "$T/small")"
	"${TM[@]}" send-keys -t top q
	wait_until 5 eval "! ${TM[*]} has-session -t top 2>/dev/null" || fail "top did not quit on q"

	# A master that stops answering: top restores the screen, says so,
	# exits 1 (after its 5 s wait for an answer).
	bg_run python3 "$T/fake.py" "$T/once.sock" once
	wait_until 5 test -S "$T/once.sock" || fail "the third stand-in did not start"
	"${TM[@]}" new-session -d -x 80 -y 24 -s once \
		"'$CLUSTERD' -s '$T/once.sock' top 2>'$T/once.err'; echo top-exit=\$?; sleep 60"
	wait_until 20 eval "${TM[*]} capture-pane -p -t once | grep -q '^top-exit='" ||
		fail "top went on without answers: $("${TM[@]}" capture-pane -p -t once)"
	assert_eq "$("${TM[@]}" capture-pane -p -t once | grep '^top-exit=')" "top-exit=1" "exit status without answers"
	assert_contains "$(cat "$T/once.err")" "the master stopped answering" "the reason"
	"${TM[@]}" capture-pane -p -t once | grep -q '^SLOT' && fail "the frame stayed on the screen"
else
	note "SKIP (part): tmux missing, the small-window check did not run"
fi

# Numbers no master sends, fields of the wrong type: a frame all the same.
bg_run python3 "$T/fake.py" "$T/huge.sock" huge
wait_until 5 test -S "$T/huge.sock" || fail "the huge stand-in did not start"
"$CLUSTERD" -s "$T/huge.sock" top >"$T/frame3" 2>&1
assert_eq "$?" 0 "top's exit status on huge numbers: $(cat "$T/frame3")"
assert_eq "$(grep -c '^-1 ' "$T/frame3")" 3 "rows with a slot out of range: $(cat "$T/frame3")"
grep -q 'Sanitizer\|runtime error' "$T/frame3" && fail "sanitizer: $(cat "$T/frame3")"

# Not the status object: exit 1 and why; the terminal gets no garbage.
bg_run python3 "$T/fake.py" "$T/bad.sock" garbage
wait_until 5 test -S "$T/bad.sock" || fail "the second stand-in did not start"
"$CLUSTERD" -s "$T/bad.sock" top >"$T/frame2" 2>"$T/err2"
assert_eq "$?" 1 "top's exit status on garbage"
assert_eq "$(cat "$T/frame2")" "" "nothing printed on garbage"
assert_contains "$(cat "$T/err2")" "is not the JSON object expected" "the reason"

# Nobody there: exit 1 at once.
"$CLUSTERD" -s "$T/none.sock" top >/dev/null 2>"$T/err3"
assert_eq "$?" 1 "top without a master"
assert_contains "$(cat "$T/err3")" "no master at $T/none.sock" "the reason"
exit 0
