#!/usr/bin/env bash
# An upgrade the new binary cannot take is refused and changes nothing:
# a file that is not executable, a program that fails --upgrade-check (a
# shell script that exits 1), one that reads another state format, one
# that is not clusterd, one that never answers (status is answered
# meanwhile).
# Each: `clusterd upgrade` exits 1 with the reason, the master keeps its
# pid, image, fds and workers, and serves. SIGUSR2 is refused the same way
# (logged). When execve itself fails, the old image goes on with every fd
# close-on-exec again. Then, the real binary back in place, the upgrade goes through.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
. "$(dirname "$0")/upgrade.sh"

upgrade_setup
start_cluster 2
exe_ino=$(stat -L -c %i "/proc/$MASTER/exe")
workers=$(children "$MASTER" | sort | tr '\n' ' ')
table=$(slot_table)
nfds=$(master_fds | grep -c .)
inherited=$(inherited_fds)

unchanged() {
	alive "$MASTER" || fail "master died ($1)"
	assert_eq "$(stat -L -c %i "/proc/$MASTER/exe")" "$exe_ino" "the old image still runs ($1)"
	assert_eq "$(children "$MASTER" | sort | tr '\n' ' ')" "$workers" "workers ($1)"
	assert_eq "$(slot_table)" "$table" "status ($1)"
	assert_eq "$(master_fds | grep -c .)" "$nfds" "the master's fd count ($1)"
	assert_eq "$(http_get "http://127.0.0.1:$PORT/")" "hello world" "serving ($1)"
}

# refused CASE EXPECTED-TEXT: the upgrade fails with exit 1 and the text.
refused() {
	local out rc
	out=$("$CLI" upgrade "$T/app.conf" 2>&1)
	rc=$?
	note "$1: $out"
	assert_eq "$rc" 1 "exit status ($1)"
	assert_contains "$out" "upgrade refused" "answer ($1)"
	assert_contains "$out" "$2" "reason ($1)"
	unchanged "$1"
}

install_bin "$OLD" 644
refused "not executable" "cannot run $BIN: Permission denied"

printf '#!/bin/sh\necho "broken build" >&2\nexit 1\n' >"$T/fail.sh"
install_bin "$T/fail.sh"
refused "exits 1" "failed (exit code 1): broken build"

printf '#!/bin/sh\necho "clusterd 9.0.0"\necho "state formats: 7 8"\n' >"$T/fmt.sh"
install_bin "$T/fmt.sh"
refused "other state format" "cannot read this master's state (format 1; it reads 7 8)"

printf '#!/bin/sh\necho "hello"\n' >"$T/other.sh"
install_bin "$T/other.sh"
refused "not clusterd" "does not answer --upgrade-check like clusterd: hello"

# A binary that never answers: refused after 10 s; meanwhile the master
# answers status at once (it waits for the child in its loop).
printf '#!/bin/sh\nexec sleep 60\n' >"$T/hang.sh"
install_bin "$T/hang.sh"
"$CLI" upgrade "$T/app.conf" >"$T/hang.out" 2>&1 &
UPG=$!
wait_until 5 master_log_has "upgrade: asking $BIN --upgrade-check" || fail "no check started"
CLUSTERD=$CLI status_answers_for 2000 "during a hung --upgrade-check"
note "status during the check: $N answers, slowest $WORST ms"
wait "$UPG"
assert_eq "$?" 1 "exit status (hung check)"
assert_contains "$(cat "$T/hang.out")" "upgrade refused: $BIN --upgrade-check did not answer within 10s" "answer (hung check)"
unchanged "hung check"

# execve itself fails (the check passes, then the file loses its x bit):
# the old image goes on, every fd close-on-exec again.
printf '#!/bin/sh\necho "clusterd 9.0.0"\necho "state formats: 1"\nchmod 644 "$0"\n' >"$T/vanish.sh"
install_bin "$T/vanish.sh"
out=$("$CLI" upgrade "$T/app.conf" 2>&1)
rc=$?
note "execve fails: $out"
assert_eq "$rc" 1 "exit status (execve fails)"
assert_contains "$out" "upgrade failed: execve $BIN: Permission denied; the old image (clusterd $OLD_VERSION) goes on" "answer (execve fails)"
unchanged "execve fails"
assert_eq "$(inherited_fds)" "$inherited" "fds without close-on-exec (execve fails)"

# SIGUSR2: the same check, the same refusal, in the log.
install_bin "$T/fail.sh"
kill -USR2 "$MASTER"
wait_until 10 master_log_has "upgrade refused: $BIN --upgrade-check failed (exit code 1)" ||
	fail "SIGUSR2: no refusal logged: $(tail -5 "$T/master.log")"
unchanged "SIGUSR2"

# The real one back: the same master upgrades.
install_bin "$NEXT"
out=$("$CLI" upgrade "$T/app.conf" 2>&1) || fail "upgrade after the refusals: $out"
assert_contains "$out" "-> $NEXT_VERSION (master $MASTER), 2 workers kept" "upgrade after the refusals"
assert_eq "$(children "$MASTER" | sort | tr '\n' ' ')" "$workers" "workers after the upgrade"
stop_master_clean
exit 0
