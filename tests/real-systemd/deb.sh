# tests/real-systemd/deb.sh - the Debian package under a real systemd,
# sourced by run.sh after its own checks (it uses run.sh's container and
# helpers: ct, check, ok, bad, log, prop, free_port, wait_for ...).
#
# Builds the package from this tree (lintian clean) and a second one a
# version higher, removes what run.sh's `make install` put in the
# container (a clean state), then: apt-get install ./clusterd_V1.deb (its
# dependencies from the container's Debian archive), nothing enabled or
# started; clusterd@demo enabled and started, plus a cluster started with
# `clusterd start`; apt-get install of V2 under a new-connection load: no
# failed request, the same master and worker pids, the masters running V2's
# binary (when the tree has `clusterd upgrade`; without it the package
# leaves the clusters alone and says so); apt-get remove stops both;
# apt-get purge leaves no file of the package.

deb_run() {
	local out1=$W/deb1 out2=$W/deb2 v1 v2 arch deb1 deb2 b2pid t dt rc
	local has_upgrade=0 P3 P4 P5 main side before after exe lines left

	log "---- Debian package"
	if ! "$ROOT/scripts/install-deps" deb >"$W/deb-deps.log" 2>&1; then
		bad "install-deps deb: $(tail -2 "$W/deb-deps.log" | tr '\n' ' ')"
		return
	fi
	v1=$(sed -n 's/^#define CLUSTERD_VERSION[[:space:]]*"\(.*\)"$/\1/p' \
	    "$ROOT/supervisor/clusterd.h")
	# One more in the last number: 0.1.0 -> 0.1.1.
	v2=$(echo "$v1" | awk -F. -v OFS=. '{ $NF = $NF + 1; print }')
	arch=$(dpkg-architecture -qDEB_HOST_ARCH)
	deb1=$out1/clusterd_${v1}_$arch.deb
	deb2=$out2/clusterd_${v2}_$arch.deb
	"$ROOT/$BUILD/clusterd" --help 2>&1 | grep -q '^ *clusterd upgrade ' &&
		has_upgrade=1

	t=$(date +%s%N)
	"$ROOT/scripts/deb-build" "$out1" >"$W/deb1.log" 2>&1; rc=$?
	dt=$(ms_since "$t")
	sed 's/^/    /' "$W/deb1.log"
	check "package $v1 built and lintian clean (rc $rc, $dt ms)" test "$rc" = 0 -a -f "$deb1"
	[ -f "$deb1" ] || return
	# The newer package builds while the first one is tried.
	DEB_VERSION=$v2 LINTIAN=0 "$ROOT/scripts/deb-build" "$out2" >"$W/deb2.log" 2>&1 &
	b2pid=$!

	# A clean state: nothing of run.sh's `make install` left.
	(cd "$STAGE" && find . ! -type d) | sed 's|^\.||' >"$W/staged"
	ct sh -c 'xargs rm -f; rm -rf /etc/clusterd /etc/systemd/system/clusterd*' <"$W/staged"
	ct systemctl daemon-reload
	ct systemctl reset-failed 2>/dev/null
	check "clean state: no clusterd in the container" ct sh -c '! command -v clusterd'

	# ------------------------------------------------ install
	ct sh -c "cat >/root/$(basename "$deb1")" <"$deb1"
	t=$(date +%s%N)
	EXEC_TIMEOUT=300 ct env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    "/root/$(basename "$deb1")" >"$W/apt1.log" 2>&1; rc=$?
	dt=$(ms_since "$t")
	check "apt-get install ./clusterd_${v1}_$arch.deb: rc $rc ($dt ms)" test "$rc" = 0
	[ "$rc" = 0 ] || { tail -5 "$W/apt1.log" | sed 's/^/    /'; wait "$b2pid"; return; }
	check "installed: $(ct dpkg-query -W -f='${Package} ${Version}' clusterd)" \
		test "$(ct dpkg-query -W -f='${Version}' clusterd)" = "$v1"
	check "clusterd --version: $(ct clusterd --version)" \
		test "$(ct clusterd --version)" = "clusterd $v1"
	lines=$(ct sh -c 'for f in "$@"; do [ -f "$f" ] || echo "$f"; done' _ \
	    /usr/bin/clusterd /usr/bin/clusterd-worker \
	    /usr/share/man/man8/clusterd.8.gz /usr/share/man/man5/clusterd.conf.5.gz \
	    /lib/systemd/system/clusterd@.service \
	    /lib/systemd/system/clusterd-notify-reload@.service \
	    /lib/systemd/system/clusterd-example.socket \
	    /usr/share/bash-completion/completions/clusterd \
	    /usr/share/doc/clusterd/examples/example.conf \
	    /usr/share/doc/clusterd/copyright)
	check "binaries, man pages, units, completion, examples/example.conf installed${lines:+; missing: $lines}" \
		test -z "$lines"
	check "clusterd-example.socket installed, not enabled: $(ct systemctl is-enabled clusterd-example.socket)" \
		test "$(ct systemctl is-enabled clusterd-example.socket)" = disabled
	lines=$(ct systemctl list-units --plain --no-legend --state=active 'clusterd*')
	check "no clusterd unit started by the install" test -z "$lines"
	ct dpkg -L clusterd >"$W/dpkg-L"

	# ------------------------------------------------ two running clusters
	P3=$(free_port)
	P4=$(free_port)
	P5=$(free_port)
	ct mkdir -p /etc/clusterd
	ct sh -c "cat >/etc/clusterd/demo.conf" <<EOF
[cluster]
workers = 2
user = nobody

[listen]
address = 127.0.0.1:$P3

[worker]
command = /usr/bin/clusterd-worker
ready = notify
EOF
	ct sh -c "cat >/etc/clusterd/side.conf" <<EOF
[cluster]
workers = 1

[listen]
address = 127.0.0.1:$P4

[worker]
command = /usr/bin/clusterd-worker
ready = notify
EOF
	ct systemctl enable --now clusterd@demo.service 2>/dev/null; rc=$?
	check "systemctl enable --now clusterd@demo: rc $rc" test "$rc" = 0
	check "clusterd@demo serving on 127.0.0.1:$P3" http_ok "$P3"
	ct clusterd start /etc/clusterd/side.conf >/dev/null 2>&1; rc=$?
	check "clusterd start /etc/clusterd/side.conf: rc $rc" test "$rc" = 0
	check "side serving on 127.0.0.1:$P4" http_ok "$P4"
	# A third one still starting through the upgrade (its worker is ready
	# after 10 min): its upgrade is refused, which must not fail the rest.
	ct sh -c "sed 's/^address = .*/address = 127.0.0.1:$P5/; s|^command = .*|& --ready-delay-ms 600000\\nready_timeout = 15m|' /etc/clusterd/demo.conf >/etc/clusterd/slow.conf"
	ct systemctl start --no-block clusterd@slow.service
	wait_for 20 state_is clusterd@slow.service activating
	check "clusterd@slow starting: $(prop clusterd@slow.service ActiveState)" \
		state_is clusterd@slow.service activating
	main=$(prop clusterd@demo.service MainPID)
	side=$(ct cat /run/clusterd/side/master.pid)
	before="$(deb_children "$main") / $(deb_children "$side")"
	log "masters $main (clusterd@demo), $side (side), $(prop clusterd@slow.service MainPID) (clusterd@slow, starting); workers $before"

	# ------------------------------------------------ upgrade under load
	wait "$b2pid"; rc=$?
	check "package $v2 built (rc $rc)" test "$rc" = 0 -a -f "$deb2"
	[ -f "$deb2" ] || { tail -5 "$W/deb2.log" | sed 's/^/    /'; return; }
	ct sh -c "cat >/root/$(basename "$deb2")" <"$deb2"
	rm -f "$W/stop"
	python3 "$ROOT/tests/load.py" --port "$P3" --conc 4 --duration 120 \
		--stop-file "$W/stop" >"$W/deb-load.json" 2>&1 &
	LOADPID=$!
	sleep 1		# a second of load before the upgrade, for comparison
	t=$(date +%s%N)
	EXEC_TIMEOUT=300 ct env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    "/root/$(basename "$deb2")" >"$W/apt2.log" 2>&1; rc=$?
	dt=$(ms_since "$t")
	sleep 1
	touch "$W/stop"; wait "$LOADPID"; LOADPID=
	check "apt-get install ./clusterd_${v2}_$arch.deb: rc $rc ($dt ms)" test "$rc" = 0
	grep '^clusterd: ' "$W/apt2.log" | sed 's/^/    postinst: /'
	log "load during the package upgrade: $(cat "$W/deb-load.json")"
	check "no failed request during the package upgrade" python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
print("    requests %d, failed %d" % (r["ok"] + r["non2xx"], r["non2xx"] +
    sum(r.get(k, 0) for k in ("refused", "reset", "timeout", "other"))))
sys.exit(not (r["ok"] > 0 and r["non2xx"] == 0 and
    all(r.get(k, 0) == 0 for k in ("refused", "reset", "timeout", "other"))))' "$W/deb-load.json"
	check "installed: $(ct dpkg-query -W -f='${Version}' clusterd)" \
		test "$(ct dpkg-query -W -f='${Version}' clusterd)" = "$v2"
	after="$(deb_children "$main") / $(deb_children "$side")"
	log "workers before: $before; after: $after"
	check "same masters: $(prop clusterd@demo.service MainPID) (was $main), $(ct cat /run/clusterd/side/master.pid) (was $side)" \
		test "$(prop clusterd@demo.service MainPID)" = "$main" -a \
		"$(ct cat /run/clusterd/side/master.pid)" = "$side"
	check "same worker pids" test "$after" = "$before"
	check "clusterd@demo still active, serving" http_ok "$P3"
	if [ "$has_upgrade" = 1 ]; then
		for m in "$main" "$side"; do
			exe=$(ct readlink "/proc/$m/exe")
			check "master $m runs $exe, which says: $(ct "/proc/$m/exe" --version)" \
				test "$exe" = /usr/bin/clusterd -a \
				"$(ct "/proc/$m/exe" --version)" = "clusterd $v2"
		done
		check "postinst: clusterd@demo and side upgraded" \
			test "$(grep -c '^clusterd: .*upgraded: ' "$W/apt2.log")" = 2
		check "postinst: the upgrade of the starting clusterd@slow failed, reported" \
			grep -q '^clusterd: clusterd@slow.service (master [0-9]*): upgrade failed' "$W/apt2.log"
	else
		log "SKIP: this tree's clusterd has no 'upgrade' command: the masters keep the old binary (checked: the package said so)"
		check "postinst says it left the clusters alone" \
			grep -q "no 'upgrade' command" "$W/apt2.log"
		check "master $main still runs the old image: $(ct readlink "/proc/$main/exe")" \
			test "$(ct readlink "/proc/$main/exe")" = "/usr/bin/clusterd (deleted)"
	fi

	# ------------------------------------------------ remove, purge
	EXEC_TIMEOUT=300 ct env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q \
	    clusterd >"$W/apt3.log" 2>&1; rc=$?
	check "apt-get remove clusterd: rc $rc" test "$rc" = 0
	grep '^clusterd: ' "$W/apt3.log" | sed 's/^/    prerm: /'
	check "clusterd@demo stopped: $(prop clusterd@demo.service ActiveState)" \
		state_is clusterd@demo.service inactive
	check "clusterd@slow stopped: $(prop clusterd@slow.service ActiveState)" \
		state_is clusterd@slow.service inactive
	check "masters $main and $side gone" \
		ct sh -c "! test -d /proc/$main && ! test -d /proc/$side"
	check "ports $P3 and $P4 refused" sh -c \
		"! (exec 3<>/dev/tcp/127.0.0.1/$P3) 2>/dev/null && ! (exec 3<>/dev/tcp/127.0.0.1/$P4) 2>/dev/null"
	EXEC_TIMEOUT=300 ct env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q \
	    clusterd >"$W/apt4.log" 2>&1; rc=$?
	check "apt-get purge clusterd: rc $rc" test "$rc" = 0
	# What dpkg -L listed and still exists, not owned by another package.
	left=$(ct sh -c 'while read -r p; do
		[ "$p" != /. ] || continue
		[ -e "$p" ] || [ -L "$p" ] || continue
		dpkg -S "$p" >/dev/null 2>&1 || echo "$p"
	done' <"$W/dpkg-L")
	check "purge: $(wc -l <"$W/dpkg-L") paths of the package, left: ${left:-none}" \
		test -z "$left"
	check "purge: no /var/log/clusterd, /run/clusterd, enablement link" ct sh -c \
		'! test -e /var/log/clusterd && ! test -e /run/clusterd &&
		 ! test -e /etc/systemd/system/multi-user.target.wants/clusterd@demo.service'
}

# deb_children PID: the pids of PID's children, sorted, comma-separated.
deb_children() {
	ct sh -c "cat /proc/$1/task/*/children" | tr ' ' '\n' | sed '/^$/d' |
		sort -n | paste -sd, -
}

deb_run
