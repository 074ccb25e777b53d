#!/bin/sh
# A content server's preStop hook (Kubernetes): no new tickets for this server, wait until its
# transfers and held slots are done (or the timeout), then lift the operator drain again.
#
# Why lift it: a drain is the operator's intent and outlives restarts (docs/operations.md), so a
# drain left behind would keep the replacement pod out of selection for good. Lifting it just
# before the container gets SIGTERM is safe: on SIGTERM the server reports `draining: true`
# itself at once, before the reception can have seen it undrained (that takes a report).
#
# Needs: TESSERA_SERVER_ID, TESSERA_DRAIN_CONTROL_URL (one reception's control URL),
# TESSERA_ADMIN_TOKEN_FILE (the operator's admin token), TESSERA_DRAIN_TIMEOUT_S (default 540,
# keep it below terminationGracePeriodSeconds).
set -u
: "${TESSERA_SERVER_ID:?}" "${TESSERA_DRAIN_CONTROL_URL:?}" "${TESSERA_ADMIN_TOKEN_FILE:?}"
TESSERA_ADMIN_TOKEN=$(cat "$TESSERA_ADMIN_TOKEN_FILE") || exit 1
export TESSERA_ADMIN_TOKEN
unset TESSERA_ADMIN_TOKEN_FILE
timeout_s=${TESSERA_DRAIN_TIMEOUT_S:-540}
tessera drain "$TESSERA_SERVER_ID" --wait --timeout "$timeout_s" --control "$TESSERA_DRAIN_CONTROL_URL"
status=$?
tessera undrain "$TESSERA_SERVER_ID" --control "$TESSERA_DRAIN_CONTROL_URL" || true
exit $status
