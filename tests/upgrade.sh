# tests/upgrade.sh - helpers for the upgrade tests; sourced after
# cluster.sh.
#
#   upgrade_setup           # $BIN: a copy of clusterd the master runs from,
#                           # $NEXT: the same build calling itself
#                           # $NEXT_VERSION (make VERSION=...), $OLD_VERSION
#                           # $CLI: a copy for the commands
#   install_bin FILE        # FILE replaces $BIN the way a package does
#                           # (a new file renamed over the path)
#   slot_table              # "slot:pid:generation:restarts:state ..." now
#   master_fds              # the master's open fds, one "N -> target" a line

NEXT_VERSION=0.2.0-next

upgrade_setup() {
	local real bdir rel san=""
	real=$(readlink -f "$CLUSTERD")
	bdir=$(dirname "$real")
	rel=${bdir#"$ROOT"/}/upgrade-next
	[ -n "$SAN" ] && san=SANITIZE=1
	# The same sources calling themselves another version: make keeps it
	# up to date in a BUILD directory of its own.
	make -s -C "$ROOT" $san VERSION=$NEXT_VERSION BUILD="$rel" \
		"$rel/clusterd" >"$T/make.log" 2>&1 ||
		fail "cannot build the next version: $(tail -5 "$T/make.log")"
	NEXT=$ROOT/$rel/clusterd
	OLD=$real
	mkdir -p "$T/bin"
	cp "$OLD" "$T/bin/clusterd"
	BIN=$T/bin/clusterd
	CLUSTERD=$BIN
	# Commands come from a copy of their own: $BIN may be broken on
	# purpose.
	cp "$OLD" "$T/cli"
	CLI=$T/cli
	OLD_VERSION=$("$OLD" --version | awk '{ print $2 }')
	[ "$OLD_VERSION" != "$NEXT_VERSION" ] ||
		fail "the build under test already calls itself $NEXT_VERSION"
}

install_bin() {
	cp "$1" "$T/bin/.clusterd.new"
	chmod "${2:-755}" "$T/bin/.clusterd.new"
	mv -f "$T/bin/.clusterd.new" "$BIN"
}

slot_table() {
	"$CLI" status "$T/app.conf" --json | python3 -c 'import json, sys
s = json.load(sys.stdin)
print(" ".join("%s:%s:%s:%s:%s" % (w["slot"], w["pid"], w["generation"],
    w["restarts"], w["state"]) for w in s["workers"]))'
}

master_fds() {
	local f
	for f in /proc/"$MASTER"/fd/*; do
		echo "${f##*/} -> $(readlink "$f")"
	done | sort -n
}

# fd_kinds: the master's fds by kind of target (pipe:[ino] -> pipe), so
# that two images can be compared whatever numbers and inodes they got.
fd_kinds() {
	master_fds | sed 's/.* -> //; s/:\[.*//; s/^\/.*/file/' | sort | uniq -c |
		tr -s ' ' | tr '\n' ',' 
}

# inherited_fds: the master's fds without close-on-exec (what any execve
# would pass on: 0-2 and whatever its parent left it).
inherited_fds() {
	local f fl
	for f in /proc/"$MASTER"/fdinfo/*; do
		fl=$(awk '/^flags:/ { print $2 }' "$f" 2>/dev/null)
		[ -n "$fl" ] || continue
		(( (8#$fl & 8#2000000) == 0 )) && echo "${f##*/}"
	done | sort -n | tr '\n' ' '
}
