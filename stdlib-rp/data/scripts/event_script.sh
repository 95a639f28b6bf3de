#!/bin/sh
# Starter event script written by `hacmp init`. Replace the body with what
# this event must do on this node. The cluster manager passes the event in the
# environment: EVNAME, EVQUALIFIER, EVLOCATION, TIMESTAMP, HACMP_NODE,
# HACMP_NODESET, HACMP_MEMBERSHIP, VERBOSE_LOGGING.
if [ "$VERBOSE_LOGGING" = "high" ]; then
    set -x
fi
echo "$(basename "$0"): event $EVNAME at node $EVLOCATION, running on node $HACMP_NODE ($HACMP_NODESET)"
exit 0
