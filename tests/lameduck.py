#!/usr/bin/env python3
"""tests/lameduck.py - a client that opens a new connection every few ms,
for the lame-duck tests and scripts/bench; loopback only, bounded.

  lameduck.py run --port P [--every-ms 5] [--threads 2] --stop-file F
                  --out FILE [--ready-file R] [--duration 60]
      Until F exists (or --duration passes): each thread in turn opens a
      new connection, sends GET / with Connection: close and reads the
      answer, one request every EVERY_MS ms in all. R is created after the
      first 200. FILE gets one JSON record per request: wall-clock start
      (t0, before connect), connected (tc, null if connect failed), outcome
      (ok, non2xx, refused, reset, timeout, other) and the error.

  lameduck.py summary FILE CUTOFF [--margin-ms 100]
      One JSON object about the requests relative to CUTOFF (epoch
      seconds): "connected_before" / "connected_before_failed" (requests
      whose connection was made before CUTOFF, and how many of them did not
      get a 200), "started_before" / "started_before_failed" (requests
      begun more than MARGIN before CUTOFF: a thread can lose the CPU
      between taking t0 and connecting), "after_failed" (begun after
      CUTOFF and not answered), "errors" (the first few failures before
      CUTOFF, with their time relative to it), "max_gap_ms" (the longest
      pause between two starts before CUTOFF).
"""
import argparse, errno, json, os, socket, sys, threading, time


def classify(e):
    if isinstance(e, socket.timeout):
        return "timeout"
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    if isinstance(e, (ConnectionResetError, BrokenPipeError)):
        return "reset"
    if isinstance(e, OSError) and e.errno == errno.ECONNREFUSED:
        return "refused"
    return "other"


def one(port, timeout):
    t0 = time.time()
    tc = None
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        tc = time.time()
        try:
            s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
        finally:
            s.close()
        if not data:
            raise ConnectionResetError("closed without an answer")
        code = int(data.split(b" ", 2)[1])
        return {"t0": t0, "tc": tc, "outcome": "ok" if code == 200 else
                "non2xx", "code": code}
    except Exception as e:
        return {"t0": t0, "tc": tc, "outcome": classify(e), "err": repr(e)}


def run(a):
    recs, lock = [], threading.Lock()
    end = time.time() + a.duration
    period = a.every_ms / 1000.0 * a.threads

    def loop(k):
        nxt = time.monotonic() + k * a.every_ms / 1000.0
        while time.time() < end and not os.path.exists(a.stop_file):
            now = time.monotonic()
            if nxt > now:
                time.sleep(nxt - now)
            nxt += period
            r = one(a.port, a.timeout)
            with lock:
                recs.append(r)
                if (r["outcome"] == "ok" and a.ready_file and
                        not os.path.exists(a.ready_file)):
                    open(a.ready_file, "w").close()
    ts = [threading.Thread(target=loop, args=(k,)) for k in range(a.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    recs.sort(key=lambda r: r["t0"])
    with open(a.out + ".tmp", "w") as f:
        json.dump(recs, f)
    os.rename(a.out + ".tmp", a.out)


def summary(a):
    recs = json.load(open(a.file))
    cut, margin = a.cutoff, a.margin_ms / 1000.0
    bad = lambda r: r["outcome"] != "ok"
    conn = [r for r in recs if r["tc"] is not None and r["tc"] < cut]
    early = [r for r in recs if r["t0"] < cut - margin]
    before = [r for r in recs if r["t0"] < cut]
    after = [r for r in recs if r["t0"] >= cut]
    gaps = [b["t0"] - a_["t0"] for a_, b in zip(before, before[1:])]
    errs = [{"at_ms": round((r["t0"] - cut) * 1000, 1), "outcome":
             r["outcome"], "err": r.get("err", r.get("code"))}
            for r in before if bad(r)][:10]
    print(json.dumps({
        "total": len(recs),
        "connected_before": len(conn),
        "connected_before_failed": sum(map(bad, conn)),
        "started_before": len(early),
        "started_before_failed": sum(map(bad, early)),
        "after": len(after),
        "after_failed": sum(map(bad, after)),
        "max_gap_ms": round(max(gaps) * 1000, 1) if gaps else 0,
        "errors": errs}))


p = argparse.ArgumentParser()
sub = p.add_subparsers(dest="cmd", required=True)
r = sub.add_parser("run")
r.add_argument("--port", type=int, required=True)
r.add_argument("--every-ms", type=float, default=5.0)
r.add_argument("--threads", type=int, default=2)
r.add_argument("--timeout", type=float, default=5.0)
r.add_argument("--duration", type=float, default=60.0)
r.add_argument("--stop-file", required=True)
r.add_argument("--ready-file")
r.add_argument("--out", required=True)
s = sub.add_parser("summary")
s.add_argument("file")
s.add_argument("cutoff", type=float)
s.add_argument("--margin-ms", type=float, default=100.0)
a = p.parse_args()
run(a) if a.cmd == "run" else summary(a)
