#!/usr/bin/env python3
"""scripts/bench-probe.py - timing probes for scripts/bench (loopback only).

  bench-probe.py kill MASTER_PID PORT REPS LOGFILE
      kill -9 the worker of slot (i mod N), i = 0..REPS-1, and time how long
      until that slot's replacement answers GET / (X-Worker-Slot = the slot,
      X-Worker-Pid = a new pid). The master log gives the breakdown:
      kill -> exit logged -> replacement forked -> replacement ready.
  bench-probe.py startstop PORT REPS LOGDIR -- CMD...
      REPS times: start CMD (its own session), time the first 200 OK on
      PORT and the master's "workers ready on" log line, then SIGTERM it and
      time its exit. CMD's stderr goes to LOGDIR/startstop.N.log.

Each prints "key=value ..." lines, the last one the summary. Every process
started here is killed (its process group) if the probe itself fails.
"""
import os, re, signal, socket, statistics, subprocess, sys, time
from datetime import datetime, timezone


def get(port, timeout=1.0):
    """One GET / on a new connection: (status, headers) or None."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError:
        return None
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(4096)
            if not d:
                return None
            buf += d
    except OSError:
        return None
    finally:
        s.close()
    head = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    try:
        code = int(head[0].split()[1])
    except (IndexError, ValueError):
        return None
    hdr = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        hdr[k.strip().lower()] = v.strip()
    return code, hdr


def children(pid):
    out = []
    for t in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/children" % (pid, t)) as f:
            out += [int(x) for x in f.read().split()]
    return out


def slot_of(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            for kv in f.read().split(b"\0"):
                if kv.startswith(b"CLUSTERD_WORKER="):
                    return int(kv[16:])
    except OSError:
        pass
    return None


LOGTS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z ")


def log_time(line):
    m = LOGTS.match(line)
    if not m:
        return None
    return datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=timezone.utc).timestamp()


def first_after(lines, pattern, since):
    """Wall time of the first log line matching pattern logged at >= since."""
    rx = re.compile(pattern)
    for line in lines:
        t = log_time(line)
        if t is not None and t >= since - 0.002 and rx.search(line):
            return t
    return None


def med(v):
    return round(statistics.median(v), 2) if v else "NaN"


def cmd_kill(master, port, reps, logfile):
    slots = {}
    for c in children(master):
        s = slot_of(c)
        if s is not None:
            slots[s] = c
    n = len(slots)
    if n == 0:
        print("error=no workers")
        return 1
    answers, fails, events = [], 0, []
    for i in range(reps):
        k = sorted(slots)[i % n]
        victim = slots[k]
        wall = time.time()
        t0 = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        ans = None
        while time.monotonic() - t0 < 5.0:
            r = get(port)
            if r and r[0] == 200 and r[1].get("x-worker-slot") == str(k) \
                    and r[1].get("x-worker-pid") != str(victim):
                ans = (time.monotonic() - t0) * 1000
                slots[k] = int(r[1]["x-worker-pid"])
                break
            time.sleep(0.0005)
        if ans is None:
            fails += 1
            print("rep=%d slot=%d victim=%d answer_ms=timeout" % (i, k, victim))
            # find the slot's new worker (if any) for the next round
            for c in children(master):
                if slot_of(c) == k:
                    slots[k] = c
            continue
        answers.append(ans)
        events.append((i, k, victim, slots[k], wall, ans))
        time.sleep(0.3)
    # breakdown from the master's log (its timestamps have ms resolution)
    with open(logfile, errors="replace") as f:
        lines = f.readlines()
    reaped, forked, ready = [], [], []
    for i, k, victim, new, wall, ans in events:
        te = first_after(lines, r"pid %d \(generation \d+\) exited" % victim, wall)
        ts = first_after(lines, r"slot %d: started pid %d\b" % (k, new), wall)
        tr = first_after(lines, r"slot %d: pid %d ready after" % (k, new), wall)
        ms = lambda t: round((t - wall) * 1000, 1) if t else "NaN"
        reaped.append(ms(te)), forked.append(ms(ts)), ready.append(ms(tr))
        print("rep=%d slot=%d victim=%d new=%d exit_logged_ms=%s forked_ms=%s "
              "ready_ms=%s answer_ms=%.1f" % (i, k, victim, new, ms(te),
                                              ms(ts), ms(tr), ans))
    num = lambda v: [x for x in v if x != "NaN"]
    print("kill_reps=%d failed=%d answer_median_ms=%s answer_max_ms=%s "
          "answer_min_ms=%s exit_logged_median_ms=%s forked_median_ms=%s "
          "ready_median_ms=%s answers_ms=%s" % (
              reps, fails, med(answers),
              round(max(answers), 2) if answers else "NaN",
              round(min(answers), 2) if answers else "NaN",
              med(num(reaped)), med(num(forked)), med(num(ready)),
              ",".join("%.1f" % a for a in answers)))
    return 0


def cmd_startstop(port, reps, logdir, cmd):
    firsts, readys, stops = [], [], []
    for i in range(reps):
        log = os.path.join(logdir, "startstop.%d.log" % i)
        with open(log, "w") as lf:
            t0 = time.monotonic()
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=lf,
                                 stderr=subprocess.STDOUT,
                                 start_new_session=True)
        try:
            first = ready = None
            while time.monotonic() - t0 < 30:
                if first is None:
                    r = get(port, 0.5)
                    if r and r[0] == 200:
                        first = (time.monotonic() - t0) * 1000
                if ready is None:
                    with open(log, errors="replace") as f:
                        if "workers ready on" in f.read():
                            ready = (time.monotonic() - t0) * 1000
                if first is not None and ready is not None:
                    break
                if p.poll() is not None:
                    break
                time.sleep(0.0005)
            t1 = time.monotonic()
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
            stop = (time.monotonic() - t1) * 1000
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        print("rep=%d first_ok_ms=%s ready_logged_ms=%s stop_ms=%.1f exit=%s" % (
            i, "%.1f" % first if first else "NaN",
            "%.1f" % ready if ready else "NaN", stop, p.returncode))
        if first:
            firsts.append(first)
        if ready:
            readys.append(ready)
        stops.append(stop)
        time.sleep(0.2)
    print("start_reps=%d first_ok_median_ms=%s ready_median_ms=%s "
          "stop_median_ms=%s stop_max_ms=%s" % (
              reps, med(firsts), med(readys), med(stops),
              round(max(stops), 1) if stops else "NaN"))
    return 0


def main(argv):
    # SIGTERM from scripts/bench's cleanup: unwind through the finally blocks
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    if len(argv) == 6 and argv[1] == "kill":
        return cmd_kill(int(argv[2]), int(argv[3]), int(argv[4]), argv[5])
    if len(argv) > 6 and argv[1] == "startstop" and argv[5] == "--":
        return cmd_startstop(int(argv[2]), int(argv[3]), argv[4], argv[6:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
