#!/usr/bin/env bash
# Every test (make test), in two lanes at once on one local stack:
#   the main lane, here: the integration tests that share the stack's Kafka
#     and mail catcher (some stop a broker; each empties the catcher first);
#   the side lane: the tests marked isolated, which bring a Kafka cluster and
#     a mail catcher of their own (the network-fault tests spend most of their
#     time waiting out the faults they make), then the unit and plan tests.
#     Its output follows the main lane's.
# Then, once both are done, the tests marked docker: the image built by a real
# Docker engine and the pipeline's containers run against the stack (they use the
# deployment's default topics and the shared mail catcher, so nothing runs beside
# them). Last, the tests marked alone: they hold the pipeline to a latency goal,
# which is a claim about a machine running the pipeline, not one shared with a
# second lane of tests.
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

"$PY" -m pytest -p no:cacheprovider -m "(isolated or not integration) and not alone and not docker" \
    >"$SIDE_LOG" 2>&1 &
side=$!

"$PY" -m pytest -m "integration and not isolated and not alone and not docker"
main_status=$?

wait "$side"
side_status=$?
echo
echo "=== the side lane: isolated, unit and plan tests ($SIDE_LOG) ==="
cat "$SIDE_LOG"

echo
echo "=== the image and the pipeline's containers on a real Docker engine ==="
"$PY" -m pytest -p no:cacheprovider -m "docker"
docker_status=$?

echo
echo "=== the tests held to a latency goal, alone on the machine ==="
"$PY" -m pytest -p no:cacheprovider -m "alone"
alone_status=$?

echo
echo "main lane exit status $main_status, side lane exit status $side_status," \
    "docker exit status $docker_status, alone exit status $alone_status"
[ "$main_status" = 0 ] && [ "$side_status" = 0 ] && [ "$docker_status" = 0 ] &&
    [ "$alone_status" = 0 ]
