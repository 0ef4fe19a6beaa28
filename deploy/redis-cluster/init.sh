#!/bin/sh
# Joins the Redis Cluster's nodes once: waits until every node answers, then, unless a cluster
# is already formed (a restart), runs `redis-cli --cluster create` and waits for cluster_state:ok.
# Usage: init.sh host:port host:port host:port [more...]   (REPLICAS=n replicas per master)
# Node names may be hostnames (compose services): CLUSTER MEET needs addresses, so each is
# resolved first.
set -eu

[ "$#" -ge 3 ] || { echo "usage: $0 host:port host:port host:port [...]" >&2; exit 2; }
replicas=${REPLICAS:-0}
tries=${TRIES:-60}

addrs=""
for node in "$@"; do
  host=${node%:*}
  port=${node##*:}
  i=0
  until redis-cli -h "$host" -p "$port" ping 2>/dev/null | grep -q PONG; do
    i=$((i + 1))
    [ "$i" -lt "$tries" ] || { echo "init: $node does not answer" >&2; exit 1; }
    sleep 1
  done
  ip=$(getent hosts "$host" | awk 'NR == 1 { print $1 }')
  [ -n "$ip" ] || { echo "init: cannot resolve $host" >&2; exit 1; }
  addrs="$addrs $ip:$port"
done

first_host=${1%:*}
first_port=${1##*:}
if redis-cli -h "$first_host" -p "$first_port" cluster info | grep -q '^cluster_state:ok'; then
  echo "init: cluster already formed"
  exit 0
fi

echo "init: creating the cluster on$addrs ($replicas replicas per master)"
# shellcheck disable=SC2086 # one argument per address
redis-cli --cluster create $addrs --cluster-replicas "$replicas" --cluster-yes

i=0
until redis-cli -h "$first_host" -p "$first_port" cluster info | grep -q '^cluster_state:ok'; do
  i=$((i + 1))
  [ "$i" -lt "$tries" ] || { echo "init: cluster not ok after ${tries}s" >&2; exit 1; }
  sleep 1
done
echo "init: cluster ok"
