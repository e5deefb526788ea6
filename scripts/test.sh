#!/usr/bin/env bash
# Every test (make test), in two lanes at once on one local stack:
#   the main lane: the integration tests but the network-fault ones, here;
#   the side lane: the network-fault tests, which bring a Kafka cluster and a
#     mail catcher of their own and spend most of their time waiting out the
#     faults they make, then the unit and plan tests. Its output follows.
# The stack is started first, unless the environment points at one already,
# and stopped at the end if it was started here. Either lane failing (or
# running no test) fails the whole.
set -uo pipefail

PY=${PY:-.venv/bin/python}
SIDE_LOG=build/test-side-lane.log
mkdir -p build

started_here=0
if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
    if ! "$PY" -m fraudstream.devstack status >/dev/null 2>&1; then
        started_here=1
    fi
    "$PY" -m fraudstream.devstack up --brokers 3 || exit 1
fi
stop_the_stack() {
    if [ "$started_here" = 1 ]; then
        "$PY" -m fraudstream.devstack down
    fi
}
trap stop_the_stack EXIT

"$PY" -m pytest -p no:cacheprovider \
    tests/integration/test_network_faults.py tests/unit tests/infra >"$SIDE_LOG" 2>&1 &
side=$!

"$PY" -m pytest --ignore=tests/integration/test_network_faults.py tests/integration
main_status=$?

wait "$side"
side_status=$?
echo
echo "=== the side lane: network faults, unit and plan tests ($SIDE_LOG) ==="
cat "$SIDE_LOG"

echo
echo "main lane exit status $main_status, side lane exit status $side_status"
[ "$main_status" = 0 ] && [ "$side_status" = 0 ]
