# tests/admin.sh - helpers for the admin endpoint's tests; sourced after
# lib.sh and cluster.sh.
#
#   ADMIN_PORT=$(free_port)    # then "admin = 127.0.0.1:$ADMIN_PORT" in [cluster]
#   admin_get /readyz          # the body; admin_code /readyz: the status
#   need_prom                  # skip unless python3-prometheus-client is there
#   metric 'clusterd_slot_restarts_total{slot="1"}'   # one sample's value

admin_get() { curl -s --max-time 5 "http://127.0.0.1:$ADMIN_PORT$1"; }
admin_code() { curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT$1"; }

# The Debian package installs into the system python, which may not be the
# python3 first on PATH.
PROM_PY=/usr/bin/python3
need_prom() {
	"$PROM_PY" -c 'import prometheus_client.parser' 2>/dev/null ||
		skip "python3-prometheus-client missing (scripts/install-deps)"
}

# scrape [FILE]: /metrics into FILE (default $T/metrics), parsed once with
# the real text-format parser (a parse error fails the test).
scrape() {
	local f=${1:-$T/metrics}
	curl -s --max-time 5 "http://127.0.0.1:$ADMIN_PORT/metrics" >"$f" ||
		fail "scrape failed"
	"$PROM_PY" - "$f" <<'PY' || fail "metrics do not parse: $(head -c 2000 "$f")"
import sys
from prometheus_client.parser import text_string_to_metric_families
list(text_string_to_metric_families(open(sys.argv[1]).read()))
PY
}

# metric SAMPLE [FILE]: the value of one sample, NAME{LABELS} as printed
# (labels in any order), from the last scrape; empty when absent.
metric() {
	"$PROM_PY" - "$1" "${2:-$T/metrics}" <<'PY'
import re, sys
from prometheus_client.parser import text_string_to_metric_families
want = sys.argv[1]
m = re.match(r'([^{]+)(?:\{(.*)\})?$', want)
name, labels = m.group(1), {}
for kv in filter(None, (m.group(2) or "").split(",")):
    k, v = kv.split("=", 1)
    labels[k] = v.strip('"')
for fam in text_string_to_metric_families(open(sys.argv[2]).read()):
    for s in fam.samples:
        if s.name == name and s.labels == labels:
            v = s.value
            print(int(v) if v == int(v) else v)
            sys.exit(0)
PY
}
