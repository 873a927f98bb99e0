#!/usr/bin/env bash
# Security H2, the FUSE variant: a local user (nobody) passes the master,
# on its NOTIFY_SOCKET, an fd of a file on a FUSE mount whose server never
# answers FLUSH for root, so the master's close() would never return.
# The master must keep answering `status` (each within 1 s), and the close
# must have been tried off the loop (FLUSH from a thread of the master,
# not the master's main thread). Needs root, /dev/fuse and mount(2).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

need_nobody_python	# root too: it mounts
[ -c /dev/fuse ] || skip "no /dev/fuse"

cat >"$T/fusesrv.py" <<'EOP'
# One file, f; FLUSH is answered for any uid but 0.
import ctypes, errno, os, struct, sys
mnt = sys.argv[1]
fd = os.open("/dev/fuse", os.O_RDWR)
libc = ctypes.CDLL(None, use_errno=True)
opts = b"fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other" % fd
if libc.mount(b"clusterd-test", mnt.encode(), b"fuse", 6, opts) != 0:  # nosuid,nodev
    print("mount: %s" % os.strerror(ctypes.get_errno()), flush=True)
    sys.exit(1)
print("mounted", flush=True)
def attr(ino, mode):
    return struct.pack("<QQQQQQIIIIIIIIII", ino, 0, 0, 0, 0, 0, 0, 0, 0,
                       mode, 1, 0, 0, 0, 4096, 0)
def reply(unique, err=0, data=b""):
    os.write(fd, struct.pack("<IiQ", 16 + len(data), err, unique) + data)
while True:
    try:
        req = os.read(fd, 1 << 20)
    except OSError as e:
        if e.errno == errno.EINTR:
            continue
        break
    ln, op, unique, node, uid, gid, pid = struct.unpack_from("<IIQQIII", req)
    if op == 26:                        # INIT
        reply(unique, 0, struct.pack("<IIIIHHIIHHII", 7, 31, 0, 0, 0, 0,
                                     4096, 1, 0, 0, 0, 0) + b"\0" * 24)
    elif op == 1:                       # LOOKUP
        if req[40:].rstrip(b"\0") == b"f":
            reply(unique, 0, struct.pack("<QQQQII", 2, 0, 60, 60, 0, 0) +
                  attr(2, 0o100666))
        else:
            reply(unique, -errno.ENOENT)
    elif op == 3:                       # GETATTR
        reply(unique, 0, struct.pack("<QII", 60, 0, 0) +
              attr(node, 0o40755 if node == 1 else 0o100666))
    elif op in (14, 27):                # OPEN, OPENDIR
        reply(unique, 0, struct.pack("<QII", 1, 0, 0))
    elif op == 25:                      # FLUSH
        print("flush uid %d pid %d" % (uid, pid), flush=True)
        if uid != 0:
            reply(unique)
    elif op in (18, 29):                # RELEASE, RELEASEDIR
        reply(unique)
    elif op in (2, 36, 42):             # FORGET, INTERRUPT, BATCH_FORGET
        pass
    else:
        reply(unique, -errno.ENOSYS)
EOP
MNT=$(mktemp -d /tmp/clusterd-fuse.XXXXXX) || fail "mktemp"
chmod 755 "$MNT"
# Last in, first out: the server goes first (that aborts the connection
# and frees whoever waits on it), then the mount.
on_exit "umount -l '$MNT' 2>/dev/null; rmdir '$MNT'"
python3 "$T/fusesrv.py" "$MNT" >"$T/fuse.out" 2>&1 &
SRV=$!
on_exit "kill $SRV 2>/dev/null; wait $SRV 2>/dev/null"
mounted() { grep -q "mounted\|mount:" "$T/fuse.out"; }
wait_until 5 mounted || fail "FUSE server: $(cat "$T/fuse.out")"
grep -q "^mount:" "$T/fuse.out" && skip "cannot mount FUSE here: $(cat "$T/fuse.out")"

start_cluster 1
w=$(children "$MASTER" | head -1)
NS=$(notify_socket_of "$w")

cat >"$T/pass.py" <<'EOP'
import array, os, socket, sys
name, path = sys.argv[1], sys.argv[2]
f = os.open(path, os.O_RDONLY)
u = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
u.sendmsg([b"FDSTORE=1"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                            array.array("i", [f]))], 0, "\0" + name[1:])
os.close(f)         # answered: we are not root
print("passed", flush=True)
EOP
out=$($AS_NOBODY "$PY" - "$NS" "$MNT/f" <"$T/pass.py" 2>&1) ||
	fail "attacker: $out"
flushed() { grep -q "flush uid 0 " "$T/fuse.out"; }
wait_until 5 flushed || fail "the master never closed the passed fd: $(cat "$T/fuse.out")"
note "$(grep 'flush uid 0' "$T/fuse.out")"

status_answers_for 3000 "while a FLUSH hangs"
note "$N status answers while the FLUSH hangs, slowest $WORST ms"
http_ok "http://127.0.0.1:$PORT/" || fail "no HTTP answer"
fpid=$(sed -n 's/^flush uid 0 pid \([0-9]*\)$/\1/p' "$T/fuse.out" | head -1)
note "master $MASTER, threads: $(ls "/proc/$MASTER/task" | tr '\n' ' ')"
[ "$fpid" != "$MASTER" ] || fail "the master's main thread waits on FLUSH"
[ -d "/proc/$MASTER/task/$fpid" ] || fail "FLUSH from $fpid, not a thread of the master"

# A FLUSH that is never answered cannot be interrupted, not even by
# SIGKILL: the thread, and so the master's final exit, waits until the
# server ends (or an admin aborts the connection). End it first.
kill "$SRV"
wait "$SRV" 2>/dev/null
kill -TERM "$MASTER"
wait "$MASTER"
assert_eq "$?" 0 "master exit status"
exit 0
