#!/usr/bin/env bash
# The README's curl walk-through as a script: four new friends, one circle, one poll, three votes.
# Usage: scripts/walkthrough.sh [base-url]   (default http://localhost:8000; needs curl 7.76+ and jq)
# Every run uses new devices, so it can be repeated; it exits non-zero on the first answer that is
# not a 2xx, printing that answer's error envelope.
set -euo pipefail
API=${1:-http://localhost:8000}
run=$RANDOM$RANDOM

api() { # api METHOD PATH [TOKEN] [JSON] -> the answer's data
  local out
  if ! out=$(curl -sS --fail-with-body -X "$1" "$API$2" ${3:+-H "Authorization: Bearer $3"} \
      ${4:+-H 'Content-Type: application/json' -d "$4"}); then
    echo "walkthrough: $1 $2 failed: $out" >&2
    return 1
  fi
  jq .data <<<"$out"
}
login() { # login NAME -> access token of a new device
  api POST /v1/auth/device-login "" "{\"device_id\":\"$1-$run\",\"platform\":\"ios\"}" | jq -er .access_token
}

MINJI=$(login minji); JIHO=$(login jiho); SEOYEON=$(login seoyeon); DOHYUN=$(login dohyun)

CIRCLE=$(api POST /v1/circles "$MINJI" '{"name":"3학년 2반","nickname":"민지"}')
CIRCLE_ID=$(jq -r .id <<<"$CIRCLE"); CODE=$(jq -r .invite_code <<<"$CIRCLE")
echo "circle $CIRCLE_ID, invite code $CODE"

api POST /v1/circles/join "$JIHO" "{\"invite_code\":\"$CODE\",\"nickname\":\"지호\"}" >/dev/null
api POST /v1/circles/join "$SEOYEON" "{\"invite_code\":\"$CODE\",\"nickname\":\"서연\"}" >/dev/null
api POST /v1/circles/join "$DOHYUN" "{\"invite_code\":\"$CODE\",\"nickname\":\"도현\"}" >/dev/null

TEMPLATE=$(api GET "/v1/templates/popular?limit=1" "$MINJI" | jq -er '.templates[0].id')
POLL=$(api POST /v1/polls "$MINJI" "{\"circle_id\":\"$CIRCLE_ID\",\"template_id\":\"$TEMPLATE\",\"duration_hours\":1}")
POLL_ID=$(jq -r .id <<<"$POLL")
JIHO_OPT=$(jq -er '.options[] | select(.member_nickname=="지호") | .id' <<<"$POLL")
SEOYEON_OPT=$(jq -er '.options[] | select(.member_nickname=="서연") | .id' <<<"$POLL")
echo "poll $POLL_ID: $(jq -r .question_text <<<"$POLL")"

api POST "/v1/polls/$POLL_ID/vote" "$SEOYEON" "{\"option_id\":\"$JIHO_OPT\"}" | jq -c .tally
api POST "/v1/polls/$POLL_ID/vote" "$DOHYUN" "{\"option_id\":\"$JIHO_OPT\"}" | jq -c .tally
api POST "/v1/polls/$POLL_ID/vote" "$JIHO" "{\"option_id\":\"$SEOYEON_OPT\"}" | jq -c .tally
if second=$(api POST "/v1/polls/$POLL_ID/vote" "$JIHO" "{\"option_id\":\"$SEOYEON_OPT\"}" 2>&1); then
  echo "walkthrough: a second vote was accepted: $second" >&2
  exit 1
fi
echo "a second vote: $(grep -o ALREADY_VOTED <<<"$second")"

api GET "/v1/polls/$POLL_ID/results" "$MINJI"
