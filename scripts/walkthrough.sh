#!/usr/bin/env bash
# The README's curl walk-through as a script: four friends, one circle, one poll, three votes.
# Usage: scripts/walkthrough.sh [base-url]   (default http://localhost:8000; needs curl and jq)
set -euo pipefail
API=${1:-http://localhost:8000}

post() { # post TOKEN PATH JSON
  curl -sS -X POST "$API$2" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' -d "$3"
}
login() { # login DEVICE -> access token
  curl -sS -X POST "$API/v1/auth/device-login" -H 'Content-Type: application/json' \
    -d "{\"device_id\":\"$1\",\"platform\":\"ios\"}" | jq -r .data.access_token
}

run=$RANDOM$RANDOM
MINJI=$(login "minji-$run"); JIHO=$(login "jiho-$run"); SEOYEON=$(login "seoyeon-$run"); DOHYUN=$(login "dohyun-$run")

CIRCLE=$(post "$MINJI" /v1/circles '{"name":"3학년 2반","nickname":"민지"}')
CIRCLE_ID=$(jq -r .data.id <<<"$CIRCLE"); CODE=$(jq -r .data.invite_code <<<"$CIRCLE")
echo "circle $CIRCLE_ID, invite code $CODE"

post "$JIHO" /v1/circles/join "{\"invite_code\":\"$CODE\",\"nickname\":\"지호\"}" >/dev/null
post "$SEOYEON" /v1/circles/join "{\"invite_code\":\"$CODE\",\"nickname\":\"서연\"}" >/dev/null
post "$DOHYUN" /v1/circles/join "{\"invite_code\":\"$CODE\",\"nickname\":\"도현\"}" >/dev/null

TEMPLATE=$(curl -sS "$API/v1/templates/popular?limit=1" -H "Authorization: Bearer $MINJI" | jq -r '.data.templates[0].id')
POLL=$(post "$MINJI" /v1/polls "{\"circle_id\":\"$CIRCLE_ID\",\"template_id\":\"$TEMPLATE\",\"duration_hours\":1}")
POLL_ID=$(jq -r .data.id <<<"$POLL")
JIHO_OPT=$(jq -r '.data.options[] | select(.member_nickname=="지호") | .id' <<<"$POLL")
SEOYEON_OPT=$(jq -r '.data.options[] | select(.member_nickname=="서연") | .id' <<<"$POLL")
echo "poll $POLL_ID: $(jq -r .data.question_text <<<"$POLL")"

post "$SEOYEON" "/v1/polls/$POLL_ID/vote" "{\"option_id\":\"$JIHO_OPT\"}" | jq -c .data.tally
post "$DOHYUN" "/v1/polls/$POLL_ID/vote" "{\"option_id\":\"$JIHO_OPT\"}" | jq -c .data.tally
post "$JIHO" "/v1/polls/$POLL_ID/vote" "{\"option_id\":\"$SEOYEON_OPT\"}" | jq -c .data.tally
echo "a second vote:"; post "$JIHO" "/v1/polls/$POLL_ID/vote" "{\"option_id\":\"$SEOYEON_OPT\"}" | jq -c .error

curl -sS "$API/v1/polls/$POLL_ID/results" -H "Authorization: Bearer $MINJI" | jq .data
