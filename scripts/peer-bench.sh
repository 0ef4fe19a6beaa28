#!/usr/bin/env bash
# Circly against its reference peer (bench/peer, on the centrifugal/centrifuge library), side by
# side: ROUNDS rounds, each running every workload on both servers, one fresh server process per
# run, the order of the two alternating from round to round. Circly runs embedded (one replica,
# SQLite, the in-memory broker) with the load-test settings of loadtest/README.md.
#
#   scripts/peer-bench.sh                                   # 3 rounds at full scale (about 25 min)
#   ROUNDS=1 DURATION=10s CONNS=1000 WATCHERS=1000 STORM=1000 scripts/peer-bench.sh   # a quick check
#
# Settings (environment):
#   ROUNDS    rounds (default 3)
#   DURATION  idle hold and hot publishing window (default 60s)
#   CONNS     idle and connect-rate connections (default 10000)
#   WATCHERS  hot watchers of one 50-member poll (default 5000)
#   RATE      hot tallies per second (default 20)
#   STORM     storm clients, in circles of 10 (default 19000)
#   OUT       directory for every run's output and the servers' logs (default: a new temp dir)
#   PEER_PORT, CIRCLY_PORT   the servers' ports on 127.0.0.1 (default 8190, 8191)
#   TALLY     the tally form Circly's watchers ask for: compact (default) or full
#   WORKLOADS the workloads to run, in order (default "idle connect hot storm"; "classroom" too)
#   CLASSROOM_RATE  classroom votes (peer: publishes) per second (default 600)
#   DATABASE_URL, REDIS_URL  for classroom, where Circly's two replicas keep their state (default
#             postgres://postgres@127.0.0.1:5432/peerbench, created if missing; redis db 7)
#
# Workloads: idle (CONNS connections, no channel, held DURATION: RSS per connection), connect
# (CONNS connections each subscribing to its user channel: dial + auth + subscribe answered),
# hot (WATCHERS × RATE tallies/s of a 50-member poll for DURATION) and storm (STORM clients cut
# at once, time until all are subscribed again). classroom (1,900 circles × 10 members, one
# connection each, CLASSROOM_RATE messages/s for DURATION) runs Circly as two replicas on
# PostgreSQL and Redis, votes through REST on the first and watchers on the second, and the peer
# on the same channels with bare publishes; the population (users, circles) is made once and
# reused. The machine's load average is printed before each run: on a shared machine it says how
# far to trust the figure.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-60s}
CONNS=${CONNS:-10000}
WATCHERS=${WATCHERS:-5000}
RATE=${RATE:-20}
STORM=${STORM:-19000}
TALLY=${TALLY:-compact}
read -ra WORKLOAD_LIST <<<"${WORKLOADS:-idle connect hot storm}"
for w in "${WORKLOAD_LIST[@]}"; do
  case $w in idle | connect | hot | storm | classroom) ;; *) echo "peer-bench: unknown workload $w" >&2; exit 1 ;; esac
done
CLASSROOM_RATE=${CLASSROOM_RATE:-600}
DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/peerbench?sslmode=disable}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/7}
OUT=${OUT:-$(mktemp -d /tmp/peer-bench.XXXXXX)}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$OUT/bin
PEER_PORT=${PEER_PORT:-8190}
CIRCLY_PORT=${CIRCLY_PORT:-8191}
SECRET=peer-bench-secret-0123456789abcdef0123456789
export PEER_SECRET=$SECRET

log() { echo "==> $*"; }
die() { echo "peer-bench: $*" >&2; exit 1; }

mkdir -p "$BIN"
log "building circly, circly-loadgen and the peer into $BIN"
# The builds yield to anything else on the machine; the measured processes do not.
(cd "$ROOT" && nice -n 19 go build -o "$BIN/circly" ./cmd/circly && nice -n 19 go build -o "$BIN/circly-loadgen" ./cmd/circly-loadgen)
(cd "$ROOT/bench/peer" && nice -n 19 go build -o "$BIN/peer" .)

SERVER_PID=
REPLICA_PID=
stop_server() {
  local pid
  for pid in $SERVER_PID $REPLICA_PID; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  SERVER_PID=""
  REPLICA_PID=""
}
trap stop_server EXIT

# wait_health URL [PID]: until the server answers /health (30 s at most); PID (default
# SERVER_PID) must stay alive meanwhile.
wait_health() {
  local i pid=${2:-$SERVER_PID}
  for ((i = 0; i < 300; i++)); do
    curl -fsS -o /dev/null "$1/health" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || die "the server exited during start-up (log in $OUT)"
    sleep 0.1
  done
  die "the server at $1 did not answer /health"
}

# start_server NAME LOG: a fresh peer or Circly process; sets SERVER_PID and URL.
start_server() {
  local name=$1 logf=$2
  URL=http://127.0.0.1:$CIRCLY_PORT
  [ "$name" = peer ] && URL=http://127.0.0.1:$PEER_PORT
  # Something else answering there would be measured instead of the fresh process.
  ! curl -s -o /dev/null "$URL/health" 2>/dev/null || die "$URL already answers: stop it or set ${name^^}_PORT"
  if [ "$name" = peer ]; then
    "$BIN/peer" -addr "127.0.0.1:$PEER_PORT" >"$logf" 2>&1 &
  elif [ "$WORKLOAD" = classroom ]; then
    start_replicas "$logf"
    return
  else
    local data=$OUT/circly-data-$RUN
    # storm reuses one database (and -population) across rounds: its 1,900 circles take minutes
    # to set up on SQLite; the process is still fresh.
    [ "$WORKLOAD" = storm ] && data=$OUT/circly-data-storm
    mkdir -p "$data"
    env -i PATH="$PATH" HOME="$HOME" PORT="$CIRCLY_PORT" DATA_DIR="$data" SECRET_KEY="$SECRET" \
      TALLY_RELEASE_BATCH=1 POLL_OPEN_LIMIT=0 POLL_DAILY_LIMIT=0 RATE_LIMIT_REQUESTS=0 \
      AUTH_RATE_LIMIT=0 LOG_LEVEL=warn WS_MAX_CONNS_PER_USER=100 "$BIN/circly" >"$logf" 2>&1 &
  fi
  SERVER_PID=$!
  wait_health "$URL"
}

# start_replicas LOG: Circly as two fresh replicas on PostgreSQL and Redis, A on CIRCLY_PORT
# (votes) and B on the next port (watchers); sets SERVER_PID (A), REPLICA_PID (B), URL and WATCH.
start_replicas() {
  local logf=$1 port_b=$((CIRCLY_PORT + 1)) db=${DATABASE_URL%%\?*}
  db=${db##*/}
  psql "${DATABASE_URL/\/$db/\/postgres}" -qtAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 ||
    psql "${DATABASE_URL/\/$db/\/postgres}" -qc "CREATE DATABASE $db" || die "cannot create database $db"
  local env=(PATH="$PATH" HOME="$HOME" DATABASE_URL="$DATABASE_URL" REDIS_URL="$REDIS_URL" SECRET_KEY="$SECRET"
    TALLY_RELEASE_BATCH=1 POLL_OPEN_LIMIT=0 POLL_DAILY_LIMIT=0 RATE_LIMIT_REQUESTS=0 AUTH_RATE_LIMIT=0
    LOG_LEVEL=warn WS_MAX_CONNS_PER_USER=100)
  env -i "${env[@]}" PORT="$CIRCLY_PORT" DATA_DIR="$OUT/circly-a" "$BIN/circly" >"$logf" 2>&1 &
  SERVER_PID=$!
  URL=http://127.0.0.1:$CIRCLY_PORT
  wait_health "$URL"
  env -i "${env[@]}" PORT="$port_b" DATA_DIR="$OUT/circly-b" "$BIN/circly" >"${logf%.log}-b.log" 2>&1 &
  REPLICA_PID=$!
  WATCH=http://127.0.0.1:$port_b
  wait_health "$WATCH" "$REPLICA_PID"
}

# classroom_population: the users and circles of the classroom, made once (a short run) and then
# reused by every round; the planner gets statistics before the measured runs.
classroom_population() {
  POPULATION=$OUT/classroom-population.json
  [ -f "$POPULATION" ] && return
  log "making the classroom's users and circles once ($POPULATION)"
  WORKLOAD=classroom RUN=setup start_server circly "$OUT/classroom-setup.log"
  "$BIN/circly-loadgen" -vote "$URL" -watch "$WATCH" -scenario classroom -circles 1900 -members 10 \
    -rate 100 -duration 1s -voters 64 -population "$POPULATION" >"$OUT/classroom-setup.txt" 2>&1 ||
    { stop_server; cat "$OUT/classroom-setup.txt" >&2; die "the classroom set-up failed"; }
  stop_server
  psql "$DATABASE_URL" -qc ANALYZE
}

# run_one NAME: one workload on one fresh server; the generator's output goes to $OUT.
run_one() {
  local name=$1 f=$OUT/r$ROUND-$WORKLOAD-$1.txt
  RUN=r$ROUND-$WORKLOAD-$name
  start_server "$name" "$OUT/$RUN.log"
  local args=(-pids "$name=$SERVER_PID")
  if [ "$name" = peer ]; then
    args+=(-protocol centrifuge -peer "$URL")
  elif [ "$WORKLOAD" = classroom ]; then
    args=(-pids "a=$SERVER_PID,b=$REPLICA_PID" -vote "$URL" -watch "$WATCH" -ws-path "/v1/ws?tally=$TALLY"
      -population "$POPULATION")
  else
    args+=(-vote "$URL" -ws-path "/v1/ws?tally=$TALLY")
  fi
  case $WORKLOAD in
    idle) args+=(-scenario idle -conns "$CONNS" -duration "$DURATION") ;;
    connect) args+=(-scenario idle -conns "$CONNS" -subscribe-user -duration 1s) ;;
    hot) args+=(-scenario hot -members 50 -watchers "$WATCHERS" -rate "$RATE" -duration "$DURATION" -voters 8) ;;
    storm)
      args+=(-scenario storm -circles $(((STORM + 9) / 10)) -members 10)
      [ "$name" = circly ] && args+=(-population "$OUT/storm-population.json")
      ;;
    classroom) args+=(-scenario classroom -circles 1900 -members 10 -rate "$CLASSROOM_RATE" -duration "$DURATION" -voters 64) ;;
  esac
  echo "--- round $ROUND, $WORKLOAD, $name: load average $(cut -d' ' -f1-3 /proc/loadavg)"
  if ! "$BIN/circly-loadgen" "${args[@]}" >"$f" 2>&1; then
    stop_server
    cat "$f" >&2
    die "the $WORKLOAD run on $name failed (output above, in $f)"
  fi
  stop_server
}

# ends FILE: how many connections ended during the run (the generator's "connection ends" line:
# e.g. the server cut a slow consumer).
ends() {
  sed -n 's/^connection ends: *//p' "$1" | grep -o '×[0-9]*' | tr -d '×' | awk '{ n += $1 } END { print n + 0 }'
}

# figures WORKLOAD NAME FILE: the workload's figures, one "label<TAB>value" a line.
figures() {
  local w=$1 name=$2 f=$3
  printf 'load average at start\t%s\n' "$(sed -n 's/^load average at start: *//p' "$f")"
  case $w in
    idle)
      printf 'server RSS per connection (connected / after hold), KB\t%s\n' \
        "$(sed -n "s/^server $name RSS:.*: \([0-9.]*\) KB per connection.*/\1/p" "$f" | paste -sd/ -)"
      printf 'server CPU while idle, cores\t%s\n' "$(sed -n "s/^server $name CPU: *\([0-9.]*\) cores.*/\1/p" "$f")"
      printf 'connections ended during the hold\t%s\n' "$(ends "$f")"
      ;;
    connect)
      printf 'connect rate (dial + auth + subscribe answered), conn/s\t%s\n' \
        "$(sed -n 's/^connections:.*(\([0-9]*\) conn\/s.*/\1/p' "$f")"
      printf 'CPU per connection set up, server / loadgen, ms\t%s / %s\n' \
        "$(sed -n "s/^CPU per connection set up:.*$name \([0-9.]*\).*/\1/p" "$f")" \
        "$(sed -n 's/^CPU per connection set up:.*loadgen \([0-9.]*\).*/\1/p' "$f")"
      ;;
    hot)
      printf 'publish/vote -> delivered p50 / p99, ms\t%s\n' \
        "$(sed -n 's/^[^:]*latency: *n=[0-9]* p50=\([0-9.]*\) p90=[0-9.]* p99=\([0-9.]*\).*/\1 \/ \2/p' "$f")"
      printf 'publish/vote HTTP round trip p99, ms\t%s\n' \
        "$(sed -n 's/^[^:]*HTTP round trip: *n=.* p99=\([0-9.]*\).*/\1/p' "$f")"
      printf 'CPU per delivered frame, server / loadgen, us\t%s / %s\n' \
        "$(sed -n "s/^CPU per delivered frame:.*$name \([0-9.]*\).*/\1/p" "$f")" \
        "$(sed -n 's/^CPU per delivered frame:.*loadgen \([0-9.]*\).*/\1/p' "$f")"
      printf 'bytes per delivered frame\t%s\n' "$(sed -n 's/^bytes per delivered frame: *\([0-9]*\).*/\1/p' "$f")"
      printf 'tallies delivered / s\t%s\n' "$(sed -n 's/^tallies delivered:.*= \([0-9]*\)\/s.*/\1/p' "$f")"
      printf 'stale watchers (1 s / 5 s)\t%s\n' \
        "$(sed -n 's/^stale watchers: *\([0-9]*\) at 1 s[^,]*, \([0-9]*\) at.*/\1 \/ \2/p' "$f")"
      printf 'connections ended during the run\t%s\n' "$(ends "$f")"
      ;;
    classroom)
      printf 'vote/publish -> delivered p50 / p90 / p99, ms\t%s\n' \
        "$(sed -n 's/^[^:]*latency: *n=[0-9]* p50=\([0-9.]*\) p90=\([0-9.]*\) p99=\([0-9.]*\).*/\1 \/ \2 \/ \3/p' "$f")"
      printf 'vote/publish HTTP round trip p99, ms\t%s\n' \
        "$(sed -n 's/^[^:]*HTTP round trip: *n=.* p99=\([0-9.]*\).*/\1/p' "$f")"
      printf 'server CPU, cores\t%s\n' "$(sed -n 's/^server \([a-z]*\) CPU: *\([0-9.]*\) cores.*/\1 \2/p' "$f" | paste -sd' ' -)"
      printf 'stale watchers (1 s / 5 s)\t%s\n' \
        "$(sed -n 's/^stale watchers: *\([0-9]*\) at 1 s[^,]*, \([0-9]*\) at.*/\1 \/ \2/p' "$f")"
      ;;
    storm)
      printf 'storm: all subscribed again after, s\t%s\n' \
        "$(sed -n 's/^storm: *\([0-9]*\) of \([0-9]*\) subscribed again \([0-9.]*\) s.*/\3 (\1 of \2)/p' "$f")"
      ;;
  esac
}

# side_by_side WORKLOAD: the round's figures of the peer and Circly in two columns.
side_by_side() {
  local w=$1
  printf '%-58s %-24s %s\n' "$w (round $ROUND)" peer circly
  paste <(figures "$w" peer "$OUT/r$ROUND-$w-peer.txt") <(figures "$w" circly "$OUT/r$ROUND-$w-circly.txt" | cut -f2) |
    awk -F'\t' '{ printf "  %-56s %-24s %s\n", $1, $2, $3 }'
}

[[ " ${WORKLOAD_LIST[*]} " == *" classroom "* ]] && classroom_population
log "output in $OUT; rounds $ROUNDS, idle/connect $CONNS conns, hot $WATCHERS watchers × $RATE/s for $DURATION, storm $STORM"
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
  order=(peer circly)
  ((ROUND % 2 == 0)) && order=(circly peer)
  for WORKLOAD in "${WORKLOAD_LIST[@]}"; do
    for name in "${order[@]}"; do
      run_one "$name"
    done
    side_by_side "$WORKLOAD"
  done
done

log "all rounds (one value per round: peer | circly)"
for WORKLOAD in "${WORKLOAD_LIST[@]}"; do
  echo "$WORKLOAD"
  paste <(for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do figures "$WORKLOAD" peer "$OUT/r$ROUND-$WORKLOAD-peer.txt"; done) \
    <(for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do figures "$WORKLOAD" circly "$OUT/r$ROUND-$WORKLOAD-circly.txt" | cut -f2; done) |
    awk -F'\t' '{ v[$1] = v[$1] (v[$1] == "" ? "" : ", ") $2; c[$1] = c[$1] (c[$1] == "" ? "" : ", ") $3; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
      END { for (i = 1; i <= n; i++) printf "  %-56s %s | %s\n", order[i], v[order[i]], c[order[i]] }'
done
