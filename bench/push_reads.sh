#!/usr/bin/env bash
# What 1,000 logins held open for phones cost the database: runs the
# held-open load test (bin/gatehouse/tests/push.rs, `a_thousand…`) with its
# installation on a fresh PostgreSQL database and counts the transactions
# that database commits each second while the logins wait.
#
#   GATEHOUSE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres bench/push_reads.sh
#
# The URL names a server this may create a database on (as for the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
admin=${GATEHOUSE_TEST_POSTGRES_URL:?set GATEHOUSE_TEST_POSTGRES_URL to a PostgreSQL server this may create a database on}
db=gatehouse_push_reads
psql "$admin" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
url="${admin%/*}/$db"
cargo test -q -p gatehouse --test e2e --no-run

count() {
  psql "$admin" -tAc "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$db'"
}
series=$(mktemp)
sampler() {
  local previous current
  previous=$(count)
  while sleep 1; do
    current=$(count)
    echo "$((current - previous))" >>"$series"
    previous=$current
  done
}
sampler &
sampler_pid=$!
trap 'kill $sampler_pid 2>/dev/null || true; rm -f "$series"' EXIT

GATEHOUSE_STORAGE__URL=$url cargo test -q -p gatehouse --test e2e push::a_thousand -- --nocapture

kill $sampler_pid
wait $sampler_pid 2>/dev/null || true
echo "transactions per second, second by second:"
paste -sd' ' "$series"
# The logins wait 30 s; the busiest part of the run (other users' logins,
# enrolment) comes before. The median second is a waiting one.
sort -n "$series" | awk '{ v[NR] = $1 } END { printf "median: %d transactions/s over %d s\n", v[int((NR + 1) / 2)], NR }'
