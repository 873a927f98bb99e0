#!/usr/bin/env python3
"""tests/fdstore-manager.py - plays systemd's file-descriptor store for
t_systemd_fdstore.sh: runs `clusterd run CONF` with NOTIFY_SOCKET, keeps the
fds it sends with FDSTORE=1 under their FDNAME (one copy per inode, as
systemd does), drops them on FDSTOREREMOVE=1, writes the stored names to
OUT after each change, and on SIGUSR1 restarts the master (SIGTERM, wait,
start again) passing the stored fds in LISTEN_FDS / LISTEN_FDNAMES.
SIGTERM stops the master and exits. MGR_FDSTORE: the $FDSTORE it says
(systemd 254's FileDescriptorStoreMax=), default 64; empty: none.

    fdstore-manager.py NOTIFY_PATH OUT CLUSTERD CONF LOG
"""
import os, signal, socket, subprocess, sys, time

nsock, out, clusterd, conf, logf = sys.argv[1:6]
store = []          # [name, fd]
flags = {"restart": False, "stop": False}
signal.signal(signal.SIGUSR1, lambda *a: flags.__setitem__("restart", True))
signal.signal(signal.SIGTERM, lambda *a: flags.__setitem__("stop", True))

ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
ns.bind(nsock)
ns.settimeout(0.05)

def dump():
    with open(out + ".tmp", "w") as f:
        for name, _ in sorted(store):
            f.write(name + "\n")
    os.rename(out + ".tmp", out)

def ino(fd):
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino)

def handle():
    try:
        msg, anc, _, _ = ns.recvmsg(4096, socket.CMSG_SPACE(253 * 4))
    except socket.timeout:
        return
    fds = []
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds += [int.from_bytes(data[i:i + 4], sys.byteorder)
                    for i in range(0, len(data) - len(data) % 4, 4)]
    kv = dict(l.split("=", 1) for l in msg.decode().split("\n") if "=" in l)
    name = kv.get("FDNAME", "stored")
    if kv.get("FDSTORE") == "1":
        for fd in fds:
            if any(ino(f) == ino(fd) for _, f in store):
                os.close(fd)
            else:
                store.append([name, fd])
        dump()
        return
    for fd in fds:
        os.close(fd)
    if kv.get("FDSTOREREMOVE") == "1":
        for e in [e for e in store if e[0] == name]:
            os.close(e[1])
            store.remove(e)
        dump()

def start():
    fds = [f for _, f in store]
    env = dict(os.environ, NOTIFY_SOCKET=nsock,
               FDSTORE=os.environ.get("MGR_FDSTORE", "64"))
    if not env["FDSTORE"]:
        del env["FDSTORE"]
    if fds:
        env["LISTEN_FDS"] = str(len(fds))
        env["LISTEN_FDNAMES"] = ":".join(n for n, _ in store)
    def pre():
        high = [os.dup(f) for f in fds]
        for i, f in enumerate(high):
            os.dup2(f, 3 + i)
        os.closerange(3 + len(fds), 65536)
    log = open(logf, "a")
    return subprocess.Popen(["/bin/sh", "-c", 'LISTEN_PID=$$ exec "$0" run "$1"',
                             clusterd, conf], env=env, preexec_fn=pre,
                            close_fds=False, stdout=log, stderr=log)

master = start()
dump()
while True:
    handle()
    if flags["restart"] or flags["stop"]:
        master.terminate()
        while master.poll() is None:
            handle()
        if flags["stop"]:
            break
        flags["restart"] = False
        master = start()
