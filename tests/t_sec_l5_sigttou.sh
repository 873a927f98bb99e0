#!/usr/bin/env bash
# L5: a `clusterd run` in a background process group of a terminal with
# `stty tostop` (a pty: a session leader holds the foreground, the master
# runs in a group of its own with stdout and stderr on the terminal) does
# not spin on SIGTTOU: its workers start (2/2 ready within 10 s), its log
# lines reach the terminal, it uses less than 30% of a CPU over 1 s, a
# SIGTTIN sent to it still scales up, and SIGTERM stops it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

cluster_app 2
cat >"$T/pty.py" <<'EOC'
import fcntl, os, sys, termios
clusterd, conf, pidfile, out = sys.argv[1:5]
mfd, sfd = os.openpty()
if os.fork() == 0:
    os.close(mfd)
    os.setsid()
    fcntl.ioctl(sfd, termios.TIOCSCTTY, 0)
    a = termios.tcgetattr(sfd)
    a[3] |= termios.TOSTOP
    termios.tcsetattr(sfd, termios.TCSANOW, a)
    c = os.fork()
    if c == 0:
        os.setpgid(0, 0)        # a background group of this terminal
        os.dup2(sfd, 1)
        os.dup2(sfd, 2)
        os.close(sfd)
        os.execv(clusterd, [clusterd, "run", conf])
    try:
        os.setpgid(c, c)        # either side may win the race
    except OSError:
        pass
    assert os.tcgetpgrp(sfd) == os.getpgrp() != c
    with open(pidfile + ".tmp", "w") as f:
        f.write("%d\n" % c)
    os.rename(pidfile + ".tmp", pidfile)
    os.waitpid(c, 0)
    os._exit(0)
os.close(sfd)
with open(out, "wb", buffering=0) as f:
    while True:
        try:
            b = os.read(mfd, 4096)
        except OSError:
            break
        if not b:
            break
        f.write(b)
EOC
bg_run python3 "$T/pty.py" "$CLUSTERD" "$T/app.conf" "$T/master.pid.pty" "$T/tty.out"
wait_until 5 test -s "$T/master.pid.pty" || fail "no master started in the pty"
MASTER=$(cat "$T/master.pid.pty")
track "$MASTER"
stty_ok() { grep -q "workers ready on" "$T/tty.out"; }
ready2() { timeout 2 "$CLUSTERD" status "$T/app.conf" 2>/dev/null | grep -q "2/2 workers ready"; }
wait_until 10 ready2 ||
	fail "not 2/2 ready within 10 s (master state $(cut -d' ' -f3 "/proc/$MASTER/stat"), CPU $(cpu_ticks "$MASTER") ticks): $(tail -3 "$T/tty.out")"
wait_until 5 stty_ok || fail "no log line on the terminal: $(cat "$T/tty.out")"
c0=$(cpu_ticks "$MASTER") t0=$(now_ms)
wait_until 2 eval '[ $(( $(now_ms) - t0 )) -ge 1000 ]'
c1=$(cpu_ticks "$MASTER") t1=$(now_ms)
pct=$(( (c1 - c0) * 1000 / $(getconf CLK_TCK) * 100 / (t1 - t0) ))
note "master CPU over $((t1 - t0)) ms in the background: $pct%"
[ "$pct" -lt 30 ] || fail "master uses $pct% of a CPU"
kill -TTIN "$MASTER"
wait_until 10 eval 'timeout 2 "$CLUSTERD" status "$T/app.conf" | grep -q "3/3 workers ready"' ||
	fail "SIGTTIN did not scale to 3: $("$CLUSTERD" status "$T/app.conf" 2>&1)"
kill -TERM "$MASTER"
wait_until 10 eval '! alive "$MASTER"' || fail "master alive 10 s after SIGTERM"
exit 0
