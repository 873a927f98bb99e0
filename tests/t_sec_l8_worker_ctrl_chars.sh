#!/usr/bin/env bash
# L8: control characters a worker prints (escape sequences that would move
# a terminal's cursor, retitle it or clear it) reach neither the log nor
# `start`'s error message raw: each C0 byte but tab, and DEL, is written as
# \xHH; a tab stays, a CRLF line ends without its CR.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/daemon.sh"

has_raw_ctrl() { LC_ALL=C grep -q "$(printf '[\001-\010\013-\037\177]')" "$1"; }

cat >"$T/chatty.sh" <<EOC
#!/bin/sh
printf 'esc:\033[2J\033]0;title\007 del:\177 tab:\tend\r\n'
exec "$WORKER" "\$@"
EOC
chmod +x "$T/chatty.sh"
WORKERS=1 app_conf
sed -i "s|^command = .*|command = $T/chatty.sh|" "$CONF"
start_app
assert_eq "$RC" 0 "start: $(cat "$T/start.err")"
wait_until 5 grep -q "pid [0-9]*: esc:" "$T/app.log" || fail "no worker line in the log"
line=$(grep "pid [0-9]*: esc:" "$T/app.log")
assert_contains "$line" 'esc:\x1b[2J\x1b]0;title\x07 del:\x7f tab:	end' "the escaped line"
has_raw_ctrl "$T/app.log" && fail "raw control characters in the log: $(cat -v "$T/app.log" | grep esc:)"
"$CLUSTERD" stop "$CONF" >/dev/null 2>&1 || fail "stop"

# A worker that fails the start: its last lines are in start's message.
cat >"$T/bad.sh" <<'EOC'
#!/bin/sh
printf 'bad:\033[31mred\033[0m\n'
exit 3
EOC
chmod +x "$T/bad.sh"
sed -i "s|^command = .*|command = $T/bad.sh|" "$CONF"
start_app
assert_eq "$RC" 1 "start of a failing worker: $(cat "$T/start.err")"
assert_contains "$(cat "$T/start.err")" 'worker: bad:\x1b[31mred\x1b[0m' "start's message"
has_raw_ctrl "$T/start.err" && fail "raw control characters in start's message: $(cat -v "$T/start.err")"
exit 0
