#!/usr/bin/env python3
"""tests/load.py - a bounded HTTP load for the integration tests.

Runs CONC threads for DURATION seconds against http://HOST:PORT/PATH, each
sending requests one after another (a new connection per request, or
keep-alive with --keepalive), and prints one JSON object: ok, non2xx,
errors by kind (refused, reset, timeout, other), max and p99 latency (ms),
requests slower than --slow-ms, distinct worker pids and slots seen,
`reused`: how many errors hit a connection that had already served (a
server closing idle keep-alive connections), `retried`: how many requests
--retry sent again, `error_times`: when the errors happened (epoch s). Stops by itself; loopback only.
"""
import argparse, json, socket, threading, time, errno, sys

p = argparse.ArgumentParser()
p.add_argument("--host", default="127.0.0.1")
p.add_argument("--port", type=int, required=True)
p.add_argument("--path", default="/")
p.add_argument("--duration", type=float, default=3.0)
p.add_argument("--conc", type=int, default=4)
p.add_argument("--keepalive", action="store_true")
p.add_argument("--timeout", type=float, default=5.0)
p.add_argument("--slow-ms", type=float, default=200.0)
p.add_argument("--stop-file", help="stop early when this file exists")
p.add_argument("--retry", action="store_true",
               help="retry once on a new connection when a reused one fails "
                    "before any answer, as HTTP/1.1 clients may for GET")
a = p.parse_args()

lock = threading.Lock()
res = {"ok": 0, "non2xx": 0, "refused": 0, "reset": 0, "timeout": 0,
       "other": 0, "slow": 0, "max_ms": 0.0, "pids": set(), "slots": set(),
       "lat": [], "errors": [], "reused": 0, "retried": 0, "error_times": []}

def parse(resp):
    head, _, body = resp.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    code = int(lines[0].split()[1])
    hdr = {}
    for l in lines[1:]:
        k, _, v = l.partition(b":")
        hdr[k.strip().lower()] = v.strip()
    n = int(hdr.get(b"content-length", b"0"))
    return code, hdr, body, n

def read_response(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise ConnectionResetError("eof before headers")
        buf += d
    code, hdr, body, n = parse(buf)
    while len(body) < n:
        d = s.recv(65536)
        if not d:
            raise ConnectionResetError("eof in body")
        body += d
    return code, hdr

def record(kind, ms, code=None, hdr=None, err=None, reused=False):
    with lock:
        if kind != "ok" and reused:
            res["reused"] += 1
        if kind == "ok":
            if 200 <= code < 300:
                res["ok"] += 1
            else:
                res["non2xx"] += 1
            res["pids"].add(hdr.get(b"x-worker-pid", b"?").decode())
            res["slots"].add(hdr.get(b"x-worker-slot", b"?").decode())
        else:
            res[kind] += 1
            if len(res["errors"]) < 20:
                res["errors"].append("%s: %s" % (kind, err))
            if len(res["error_times"]) < 1000:
                res["error_times"].append(round(time.time(), 3))
        res["lat"].append(ms)
        if ms > res["max_ms"]:
            res["max_ms"] = ms
        if ms > a.slow_ms:
            res["slow"] += 1

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

def worker(deadline):
    import os
    req = ("GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (
        a.path, "" if a.keepalive else "Connection: close\r\n")).encode()
    s = None
    served = 0      # answers on the connection s
    while time.time() < deadline:
        if a.stop_file and os.path.exists(a.stop_file):
            break
        t0 = time.monotonic()
        try:
            if s is None:
                s = socket.create_connection((a.host, a.port), timeout=a.timeout)
                served = 0
            s.sendall(req)
            try:
                code, hdr = read_response(s)
            except (ConnectionResetError, BrokenPipeError):
                if not (a.retry and served > 0):
                    raise
                # The server closed an idle keep-alive connection as our
                # request went out: nothing was processed, send it again.
                s.close()
                with lock:
                    res["retried"] += 1
                s = socket.create_connection((a.host, a.port), timeout=a.timeout)
                served = 0
                s.sendall(req)
                code, hdr = read_response(s)
            served += 1
            ms = (time.monotonic() - t0) * 1000
            record("ok", ms, code, hdr)
            if not a.keepalive or hdr.get(b"connection", b"").lower() == b"close":
                s.close()
                s = None
        except Exception as e:
            ms = (time.monotonic() - t0) * 1000
            record(classify(e), ms, err=repr(e), reused=served > 0)
            if s is not None:
                s.close()
                s = None
    if s is not None:
        s.close()

deadline = time.time() + a.duration
ts = [threading.Thread(target=worker, args=(deadline,)) for _ in range(a.conc)]
for t in ts:
    t.start()
for t in ts:
    t.join()
lat = sorted(res.pop("lat"))
res["p99_ms"] = round(lat[int(len(lat) * 0.99)] if lat else 0, 1)
res["max_ms"] = round(res["max_ms"], 1)
res["pids"] = sorted(res["pids"])
res["slots"] = sorted(res["slots"])
res["failed"] = res["refused"] + res["reset"] + res["timeout"] + res["other"] + res["non2xx"]
print(json.dumps(res))
