#!/usr/bin/env bash
# log_format = json: every line of the log file is one JSON object (python3
# json, strict UTF-8) after a crash, a reload, and a worker that prints
# binary garbage, invalid UTF-8, control characters and a 64 KiB line; the
# worker's stdout and stderr lines carry their stream (and level info /
# warning), the master's lines about a slot carry the slot; the 64 KiB line
# comes split into pieces of at most 1024 bytes, never inside a
# character, that join back to what the worker wrote.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

cat >"$T/w.sh" <<EOF
#!/bin/sh
echo "hello stdout \$CLUSTERD_WORKER"
echo "hello stderr \$CLUSTERD_WORKER" >&2
if [ -e "$T/garbage" ]; then
	head -c 8192 /dev/urandom
	printf '\n'
	python3 -c 'import sys; sys.stdout.write("x" + "\u00e9" * 32768 + "\n")'
	printf 'bad utf8: \303\050 \355\240\200 \370\210\200\200\200 ctl: \001\033[31m tab\t"q" back\\\\slash\n' >&2
fi
exec $WORKER
EOF
chmod +x "$T/w.sh"
NAME=app cluster_app 2 "command = $T/w.sh" "restart_delay = 20ms" \
	"[cluster]" "log = $T/app.log" "log_format = json"
run_cluster "$T/app.conf"
wait_until 10 grep -q "workers ready on" "$T/app.log" || fail "no start: $(tail -n 5 "$T/app.log" "$T/master.log")"

victim=$(slot_pid 1)
kill -9 "$victim"
wait_until 10 eval "[ \$(grep -c 'hello stdout 1' '$T/app.log') -ge 2 ]" || fail "no respawn"
"$CLUSTERD" reload "$T/app.conf" >/dev/null || fail "reload"
touch "$T/garbage"
kill -9 "$(slot_pid 0)"
wait_until 10 grep -q 'bad utf8' "$T/app.log" || fail "no garbage line: $(tail -n 3 "$T/app.log")"
wait_until 10 eval "[ \$(grep -c 'pid [0-9]* ready after' '$T/app.log') -ge 6 ]" || fail "slot 0 not back"
stop_master_clean

python3 - "$T/app.log" "$victim" <<'PY' || fail "log: $(head -c 2000 "$T/app.log")"
import json, sys
victim = int(sys.argv[2])
raw = open(sys.argv[1], 'rb').read()
text = raw.decode('utf-8')		# strict: the whole file is UTF-8
lines = text.split('\n')
assert lines[-1] == '', 'no newline at the end'
ev = []
for n, l in enumerate(lines[:-1], 1):
    try:
        e = json.loads(l)
    except ValueError as x:
        raise AssertionError('line %d: %s: %r' % (n, x, l[:200]))
    assert isinstance(e, dict), (n, l)
    for k in ('ts', 'level', 'name', 'pid', 'msg'):
        assert k in e, (n, k, l)
    assert e['name'] == 'app', e
    assert set(e) <= {'ts', 'level', 'name', 'slot', 'pid', 'generation', 'stream', 'msg'}, e
    ev.append(e)
work = [e for e in ev if 'stream' in e]
master = [e for e in ev if 'stream' not in e]
assert all('slot' in e and 'generation' in e for e in work)
assert all('generation' not in e for e in master)
outs = [e for e in work if e['msg'].startswith('hello stdout')]
errs = [e for e in work if e['msg'].startswith('hello stderr')]
assert outs and errs
assert all(e['stream'] == 'stdout' and e['level'] == 'info' and
    e['msg'] == 'hello stdout %d' % e['slot'] for e in outs), outs
assert all(e['stream'] == 'stderr' and e['level'] == 'warning' and
    e['msg'] == 'hello stderr %d' % e['slot'] for e in errs), errs
assert any(e['generation'] == 2 for e in outs), 'no line of generation 2'
crash = [e for e in master if 'pid %d' % victim in e['msg'] and 'signal 9' in e['msg']]
assert crash and crash[0].get('slot') == 1, crash
assert any(e['msg'].startswith('reloaded: generation 2') for e in master)
bad = [e for e in work if e['msg'].startswith('bad utf8')]
assert bad and bad[0]['stream'] == 'stderr', bad
assert '\ufffd' in bad[0]['msg'] and '\x01\x1b[31m' in bad[0]['msg'] and \
    '"q" back\\slash' in bad[0]['msg'], repr(bad[0]['msg'])
# The 64 KiB line: pieces of at most 1024 bytes, cut between characters.
# An odd start, so that 1024-byte pieces would cut characters in half.
pieces = [e['msg'] for e in work if e['stream'] == 'stdout' and e['msg'] and
    set(e['msg']) <= {'x', '\u00e9'}]
assert ''.join(pieces) == 'x' + '\u00e9' * 32768, (len(pieces), len(''.join(pieces)))
assert all(len(p.encode()) <= 1024 for p in pieces)
print('%d lines: %d of workers, %d of the master; 64 KiB line in %d pieces'
    % (len(ev), len(work), len(master), len(pieces)), file=sys.stderr)
PY
exit 0
