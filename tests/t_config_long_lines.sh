#!/usr/bin/env bash
# t_config_long_lines.sh - long lines reach the worker whole: a `command`
# line of 300 characters and an `env` line of 1000 (both far over the
# 200 bytes of the system's libinih) give the worker exactly those words
# and that value; a line over 4096 bytes is refused by `check` with
# FILE:LINE, and a 4096-byte one is accepted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

[ -x "$CLUSTERD" ] || fail "$CLUSTERD not built"
command -v python3 >/dev/null || skip "no python3"

# The worker writes what it was started with, then waits for its stop
# signal (ready = delay: alive is ready).
cat >"$T/w.py" <<'EOF'
import json, os, signal, sys
out = os.path.join(os.path.dirname(sys.argv[0]), "seen.json")
with open(out + ".tmp", "w") as f:
    json.dump({"argv": sys.argv[1:], "big": os.environ.get("BIG")}, f)
os.rename(out + ".tmp", out)
signal.pause()
EOF

# A command line of exactly 300 characters: quoted words, blanks inside
# quotes, a ';' escaped, then one long word that pads it to 300.
head="command = python3 $T/w.py 'two words' \"dq \\\$x\" semi\\;colon "
pad=$((300 - ${#head}))
[ "$pad" -gt 20 ] || skip "temp dir path too long for a 300-byte line"
long=$(printf 'a%.0s' $(seq 1 "$pad"))
cmdline="$head$long"
envline="env = BIG=$(printf 'y%.0s' $(seq 1 990))"
assert_eq "${#cmdline}" 300 "command line length"
assert_eq "${#envline}" 1000 "env line length"

PORT=$(free_port)
WORKERS=1 cluster_conf "$T/app.conf" <<EOC
[listen]
address = 127.0.0.1:$PORT
[worker]
$cmdline
$envline
ready_delay = 100ms
stop_timeout = 2s
EOC
out=$("$CLUSTERD" check "$T/app.conf" 2>&1) || fail "check: $out"

run_cluster "$T/app.conf"
wait_until 10 test -s "$T/seen.json" ||
	fail "worker did not start: $(tail -20 "$T/master.log")"
got=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(json.dumps(d["argv"]))
print(len(d["big"] or ""), set(d["big"] or ""))' "$T/seen.json")
want="[\"two words\", \"dq \$x\", \"semi;colon\", \"$long\"]"
assert_eq "$(sed -n 1p <<<"$got")" "$want" "worker argv"
assert_eq "$(sed -n 2p <<<"$got")" "990 {'y'}" "worker BIG length and bytes"
note "a 300-byte command line and a 1000-byte env line arrived whole"
kill -TERM "$MASTER"
wait_until 10 eval '! alive "$MASTER"' || fail "master did not stop"

# At the limit: a 4096-byte line is read whole, 4097 is an error at its
# line, also in the middle of the file and with CR LF.
limit_conf() {
	local n=$1 eol=$2
	{
		printf '[listen]\naddress = 127.0.0.1:%s\n[worker]\n' "$PORT"
		printf 'command = /bin/true\n'
		printf 'env = A=%s%b' "$(printf 'z%.0s' $(seq 1 $((n - 8))))" "$eol"
		printf 'ready = delay\n'
	} >"$T/limit.conf"
}
limit_conf 4096 '\n'
out=$("$CLUSTERD" check "$T/limit.conf" 2>&1) || fail "4096 bytes: $out"
limit_conf 4096 '\r\n'
out=$("$CLUSTERD" check "$T/limit.conf" 2>&1) || fail "4096 bytes CR LF: $out"
limit_conf 4097 '\n'
out=$("$CLUSTERD" check "$T/limit.conf" 2>&1); rc=$?
assert_eq "$rc" 3 "check of a 4097-byte line: exit"
assert_eq "$out" "$T/limit.conf:5: line too long (4097 bytes, at most 4096)" \
	"check of a 4097-byte line"
exit 0
