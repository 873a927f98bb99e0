#!/usr/bin/env bash
# clusterd top in a real terminal (tmux, 80x24): both slots of a 2-worker
# cluster; a kill -9'd worker's row shows its successor's pid within 2 s; a
# resize to 60x20 and back redraws a clean frame; q exits 0 and leaves the
# pane as it was (text and stty modes), so does Ctrl-C; SIGTERM restores
# the terminal too; the master going away ends top with exit 1 and says
# so. Piped, or on a terminal ncurses does not know, it prints one frame
# and exits 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

command -v tmux >/dev/null || skip "tmux missing (scripts/install-deps installs it)"

NAME=topapp start_cluster 2
CONF=$T/topapp.conf

# --- Piped: one plain frame, exit 0. -----------------------------------
{ "$CLUSTERD" top "$CONF"; echo "exit=$?"; } | cat >"$T/frame"
assert_eq "$(tail -1 "$T/frame")" "exit=0" "piped top exit status"
assert_contains "$(head -1 "$T/frame")" "topapp: master $MASTER, " "frame header"
assert_eq "$(grep -c '^SLOT ' "$T/frame")" 1 "one frame (column headers)"
for s in 0 1; do
	p=$(slot_pid "$s") || fail "no worker in slot $s"
	grep -Eq "^$s +$p +1 +ready " "$T/frame" ||
		fail "slot $s (pid $p) not in the frame: $(cat "$T/frame")"
done
grep -q $'\e' "$T/frame" && fail "escape sequences in the piped frame"

# --- In a terminal. ------------------------------------------------------
TM=(tmux -S "$T/tmux.sock")
on_exit '"${TM[@]}" kill-server 2>/dev/null'
"${TM[@]}" new-session -d -x 80 -y 24 -s top \
	"cd '$T' && exec env PS1='\$ ' c='$CLUSTERD' bash --norc --noprofile -i" ||
	skip "tmux cannot start a session here"
pane() { "${TM[@]}" capture-pane -p -t top; }
# The pane's text without the blank lines at its end.
pane_text() { pane | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'; }
pane_has() { pane | grep -Eq -- "$1"; }
keys() { "${TM[@]}" send-keys -t top "$@"; }

# The prompt is "$ " (capture-pane may drop its trailing space).
prompt_last() { pane_text | tail -1 | grep -Eqx '\$ ?'; }
keys "echo marker-before" Enter
wait_until 5 eval "pane_has '^marker-before\$' && prompt_last" ||
	fail "no shell prompt: $(pane)"
pane_text >"$T/before"
keys 'stty -a | head -1 >stty.before; $c top topapp.conf; echo top-exit=$?' Enter

wait_until 10 pane_has '^SLOT +PID' || fail "top shows no table: $(pane)"
p0=$(slot_pid 0) p1=$(slot_pid 1)
wait_until 5 eval "pane_has '^0 +$p0 ' && pane_has '^1 +$p1 '" ||
	fail "both slots (pids $p0, $p1) not shown: $(pane)"
pane_has "^topapp: master $MASTER, up .*2/2 workers ready" ||
	fail "no status header: $(pane)"

# A frame is these lines and nothing else (no fragments of an older one).
sane_frame() {
	local width=$1 height=$2 lines n
	lines=$(pane)
	n=$(printf '%s\n' "$lines" | awk -v w="$width" 'length($0) > w' | wc -l)
	[ "$n" = 0 ] || { echo "lines wider than $width"; return 1; }
	[ "$(printf '%s\n' "$lines" | wc -l)" -le "$height" ] ||
		{ echo "more than $height lines"; return 1; }
	printf '%s\n' "$lines" | awk '
		/^$/ { next }
		/^topapp: master [0-9]+, up / { h++; next }
		/^listen: 127\.0\.0\.1:[0-9]+/ { l++; next }
		/^SLOT +PID +GEN +STATE/ { c++; next }
		/^[01] +[0-9]+ +1 +[a-z]+ +[0-9a-z]+ +[0-9]+ / { r++; next }
		/^[0-9][0-9]:[0-9][0-9]:[0-9][0-9]  q: quit$/ { q++; next }
		{ print "unexpected line: " $0; bad = 1 }
		END { if (bad || h != 1 || l != 1 || c != 1 || r != 2 || q != 1) {
			printf "header %d listen %d columns %d rows %d hint %d\n", h, l, c, r, q
			exit 1 } }'
}
sane_frame 80 24 || fail "80x24 frame: $(pane)"

# kill -9 of slot 0's worker: the new pid shows within 2 s.
kill -9 "$p0"
t0=$(now_ms)
# (Only the pane is read while timing: the check of the pid comes after.)
new_pid_shown() {
	shown=$(pane | awk '$1 == "0" { print $2 }')
	[[ $shown =~ ^[0-9]+$ ]] && [ "$shown" != "$p0" ]
}
wait_until 4 new_pid_shown || fail "slot 0 still shows $(pane | awk '$1 == "0"')"
dt=$(( $(now_ms) - t0 ))
note "slot 0's new pid $shown shown $dt ms after kill -9"
[ "$dt" -le 2000 ] || fail "new pid shown after $dt ms (more than 2 s)"
p0=$(slot_pid 0)
assert_eq "$shown" "$p0" "the pid shown for slot 0"
wait_until 5 eval "pane_has '^0 +$p0 +1 +ready .* SIGKILL\$'" ||
	fail "slot 0 not ready again with its last exit: $(pane)"

# Resize to 60x20 and back: each time a clean frame of that size.
"${TM[@]}" resize-window -t top -x 60 -y 20
wait_until 5 eval "[ \"\$(${TM[*]} display -p -t top '#{pane_width}x#{pane_height}')\" = 60x20 ]" ||
	fail "tmux did not resize"
wait_until 5 eval "pane | tail -1 | grep -q 'q: quit' && sane_frame 60 20" ||
	fail "60x20 frame: $(sane_frame 60 20; pane)"
"${TM[@]}" resize-window -t top -x 80 -y 24
wait_until 5 eval "pane | sed -n 24p | grep -q 'q: quit' && sane_frame 80 24 && pane_has 'LAST EXIT'" ||
	fail "80x24 frame after the resize: $(sane_frame 80 24; pane)"

# q: exit 0, and the pane is what it was, plus the command and its result.
keys q
wait_until 5 pane_has '^top-exit=' || fail "top did not exit on q: $(pane)"
wait_until 5 prompt_last || fail "no prompt after q: $(pane)"
assert_eq "$(pane | grep '^top-exit=')" "top-exit=0" "exit status of q"
pane_text >"$T/after"
{
	sed '$d' "$T/before"
	echo '$ stty -a | head -1 >stty.before; $c top topapp.conf; echo top-exit=$?'
	echo "top-exit=0"
	echo '$'
} >"$T/expected"
sed -i 's/^\$ $/$/' "$T/after" "$T/expected"
diff "$T/expected" "$T/after" >"$T/diff" ||
	fail "the pane after q is not the one before: $(cat "$T/diff")"
keys 'stty -a | head -1 | diff - stty.before && echo stty-same' Enter
wait_until 5 pane_has '^stty-same$' || fail "terminal modes changed: $(pane)"

# Ctrl-C: the same as q.
keys clear Enter
keys '$c top topapp.conf; echo top-exit=$?' Enter
wait_until 10 pane_has '^SLOT +PID' || fail "top (ctrl-c) shows no table"
keys C-c
wait_until 5 pane_has '^top-exit=0$' || fail "top did not exit 0 on Ctrl-C: $(pane)"
pane_has '^SLOT +PID' && fail "the frame is still on the screen after Ctrl-C"

# SIGTERM to top: the terminal restored, top ends by the signal.
keys clear Enter
keys '$c top topapp.conf; echo top-exit=$?' Enter
wait_until 10 pane_has '^SLOT +PID' || fail "top (2) shows no table"
shell=$("${TM[@]}" display -p -t top '#{pane_pid}')
tp=$(ps --ppid "$shell" -o pid= | tr -d ' ' | head -1)
[ -n "$tp" ] || fail "no top process under the pane's shell"
kill -TERM "$tp"
wait_until 5 pane_has '^top-exit=143$' || fail "top did not end by SIGTERM: $(pane)"
pane_has '^SLOT +PID' && fail "the frame is still on the screen after SIGTERM"

# A terminal ncurses does not know: one plain frame, exit 0.
keys clear Enter
keys 'TERM=no-such-term $c top topapp.conf; echo top-exit=$?' Enter
wait_until 10 pane_has '^top-exit=' || fail "top on an unknown terminal did not end: $(pane)"
pane_has "terminal 'no-such-term' unknown, one frame as text" ||
	fail "no word about the unknown terminal: $(pane)"
pane_has '^SLOT +PID' || fail "no frame on an unknown terminal: $(pane)"
assert_eq "$(pane | grep '^top-exit=')" "top-exit=0" "exit status on an unknown terminal"

# The master goes away: top says so, restores the terminal, exits 1.
keys clear Enter
keys '$c top topapp.conf; echo top-exit=$?' Enter
wait_until 10 pane_has '^SLOT +PID' || fail "top (3) shows no table"
stop_master_clean
wait_until 5 pane_has '^top-exit=1$' || fail "top did not exit when the master went: $(pane)"
pane_has 'clusterd: top: topapp.conf: the master went away' ||
	fail "top did not say why it ended: $(pane)"
pane_has '^SLOT +PID' && fail "the frame is still on the screen"
exit 0
