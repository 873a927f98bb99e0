#!/usr/bin/env bash
# H5: a worker that can write its unix: socket's directory can replace the
# socket file with a symlink to any file. A reload must not chmod()/chown()
# what the path points to then: the mode and group go only to the socket
# file the master bound (same inode, still a socket), else nowhere, with a
# warning. A reload of an untouched socket still applies a new socket_mode
# and socket_group.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

mkdir -m 0777 "$T/sd"
echo secret >"$T/target.txt"
chmod 0600 "$T/target.txt"
grp=$(getent group nogroup | cut -d: -f3)
[ -n "$grp" ] || skip "no group nogroup"
conf() {	# conf MODE
	WORKERS=1 cluster_conf "$T/app.conf" <<EOF
[listen]
address = unix:$T/sd/app.sock
socket_mode = $1
socket_group = nogroup
[worker]
command = $WORKER
ready = notify
EOF
}
reload_to() {	# reload_to GEN
	kill -HUP "$MASTER"
	wait_until 10 master_log_has "reloaded: generation $1" ||
		fail "reload to $1: $(tail -3 "$T/master.log")"
}
conf 0660
run_cluster "$T/app.conf"
wait_started
assert_eq "$(stat -c '%a %g' "$T/sd/app.sock")" "660 $grp" "socket at start"

conf 0666
reload_to 2
assert_eq "$(stat -c '%a %g' "$T/sd/app.sock")" "666 $grp" "socket_mode change applied"

# What a worker of the socket's directory can do: a symlink in its place.
rm "$T/sd/app.sock"
ln -s "$T/target.txt" "$T/sd/app.sock"
before=$(stat -c '%a %u %g' "$T/target.txt")
conf 0644
reload_to 3
assert_eq "$(stat -c '%a %u %g' "$T/target.txt")" "$before" \
	"the file behind the symlink (mode uid gid)"
master_log_has "socket_mode and socket_group not applied" ||
	fail "no warning in the log"
# The same with a hard link in place of the symlink (not the bound inode).
rm "$T/sd/app.sock"
ln "$T/target.txt" "$T/sd/app.sock"
conf 0666
reload_to 4
assert_eq "$(stat -c '%a %u %g' "$T/target.txt")" "$before" "hard-linked file"
exit 0
