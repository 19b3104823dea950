#!/usr/bin/env bash
# Resident memory under a mixed RADIUS load: Gatehouse against Debian's
# FreeRADIUS 3.2 (PAP from its users file), both on loopback, both driven
# by the same radclient requests. Prints each server's RSS at the start,
# its peak (VmHWM) and after the load, from /proc.
#
# The load (REQUESTS requests, PARALLEL in flight) is a block of BLOCK
# requests sent REQUESTS / BLOCK times over (radclient's -c; it slows down
# with the length of its file), the same to both: returning users with the right password (20 users; for
# Gatehouse passwords.cache_seconds is on, so most are answered from the
# verified-password cache), NEW users logging in for the first time (local
# accounts, counted once each, returning after), and WRONG_PCT / UNKNOWN_PCT percent wrong
# passwords of existing users and names that are nobody (both cost
# Gatehouse a full argon2 check, 19 MiB each: the allocator's test).
#
#   bench/memory.sh                              500,000 requests, 64 in flight
#   REQUESTS=100000 bench/memory.sh             shorter
#   MALLOC_ARENA_MAX=2 bench/memory.sh           the server under another glibc setting
#   GH_PRELOAD=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2 bench/memory.sh
#                                                Gatehouse on another allocator (Debian's
#                                                libmimalloc2.0, libjemalloc2), LD_PRELOADed
#
# "after" is 5 s after the load, "idle" 40 s after it (Gatehouse gives its
# argon2 memory back after 30 s without a password check).
#
# Needs: freeradius, freeradius-utils (radclient); run as root (FreeRADIUS).
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${REQUESTS:-500000}
PARALLEL=${PARALLEL:-64}
BLOCK=${BLOCK:-2500}
NEW=${NEW:-500}
WRONG_PCT=${WRONG_PCT:-1}
UNKNOWN_PCT=${UNKNOWN_PCT:-1}
SECRET=bench-shared-secret
GH_PORT=${GH_PORT:-18832}
FR_PORT=${FR_PORT:-18842}

source bench/common.sh
need bench/memory.sh radclient freeradius
build_release
start_work

# The load, and the accounts it needs.
python3 - "$work" "$BLOCK" "$NEW" "$WRONG_PCT" "$UNKNOWN_PCT" <<'PY'
import random, sys
work, requests, new, wrong_pct, unknown_pct = sys.argv[1], *map(int, sys.argv[2:])
random.seed(7)
returning = [f"user{i}" for i in range(20)]
newcomers = [f"new{i}" for i in range(new)]
with open(f"{work}/accounts.tsv", "w") as f:
    for name in returning + newcomers:
        f.write(f"{name}\t{name}-pw\n")
def request(name, password):
    return f'User-Name = "{name}", User-Password = "{password}", Message-Authenticator = 0x00\n\n'
# Newcomers spread evenly over the run; the rest drawn by the shares.
first_at = set(random.sample(range(requests), min(new, requests)))
queue = iter(newcomers)
with open(f"{work}/load.txt", "w") as f:
    for i in range(requests):
        if i in first_at:
            f.write(request(next(queue), ""))
            continue
        roll = random.randrange(100)
        if roll < wrong_pct:
            f.write(request(random.choice(returning), f"wrong-{random.randrange(1000)}"))
        elif roll < wrong_pct + unknown_pct:
            f.write(request(f"nobody{random.randrange(10**9)}", "whatever"))
        else:
            f.write(request(random.choice(returning), ""))
PY
# Newcomers' and returning users' passwords are their names plus -pw.
sed -i -E 's/User-Name = "((user|new)[0-9]+)", User-Password = ""/User-Name = "\1", User-Password = "\1-pw"/' "$work/load.txt"

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
peak() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }

# measure NAME PID PORT: sets RESULT to "start peak after" (MiB).
measure() {
  local name=$1 pid=$2 port=$3 start summary
  sleep 1
  start=$(rss "$pid")
  echo "$name: $REQUESTS requests, $PARALLEL in flight..." >&2
  summary=$(radclient -q -s -f "$work/load.txt" -c $((REQUESTS / BLOCK)) -p "$PARALLEL" -t 10 -r 1 "127.0.0.1:$port" auth "$SECRET" 2>&1 || true)
  grep -E "Accepted|Rejected|Lost" <<<"$summary" | sed "s/^/  $name /" >&2 || true
  sleep 5
  local after
  after=$(rss "$pid")
  sleep 35
  RESULT="$(mib "$start") $(mib "$(peak "$pid")") $(mib "$after") $(mib "$(rss "$pid")")"
}

# --- Gatehouse -------------------------------------------------------------
mkdir -p "$work/gatehouse"
cat > "$work/gatehouse/gatehouse.toml" <<EOF
[license]
timezone = "UTC"

[passwords]
cache_seconds = 3600

[mfa]
required = false

[log]
level = "warn"

[radius]
listen = "127.0.0.1:$GH_PORT"

[[radius.clients]]
name = "bench"
networks = ["127.0.0.1"]
secret = "$SECRET"
EOF
gh() { "$GH" --data-dir "$work/gatehouse" "$@" 2>/dev/null; }
licensed_gatehouse "$work/gatehouse"
echo "creating $((NEW + 20)) local accounts..." >&2
gh local-user import "$work/accounts.tsv" >/dev/null
serve_gatehouse "$work/gatehouse"

# --- FreeRADIUS ------------------------------------------------------------
fr=$work/freeradius
freeradius_config "$fr"
awk -F'\t' '{ printf "%s Cleartext-Password := \"%s\"\n", $1, $2 }' "$work/accounts.tsv" |
  freeradius_pap "$fr" "$FR_PORT"
freeradius -f -d "$fr" -l "$work/freeradius.log" >/dev/null 2>&1 &
fr_pid=$!
pids+=("$fr_pid")

for port in "$GH_PORT" "$FR_PORT"; do
  wait_for_radius "$port" user0 user0-pw
done

measure gatehouse "$gh_pid" "$GH_PORT"
read -r gh_start gh_peak gh_after gh_idle <<<"$RESULT"
measure freeradius "$fr_pid" "$FR_PORT"
read -r fr_start fr_peak fr_after fr_idle <<<"$RESULT"

printf '\nresident memory (MiB) under %d mixed requests, %d in flight\n' "$REQUESTS" "$PARALLEL"
printf '%-12s %8s %8s %8s %8s\n' server start peak after idle
printf '%-12s %8s %8s %8s %8s\n' gatehouse "$gh_start" "$gh_peak" "$gh_after" "$gh_idle"
printf '%-12s %8s %8s %8s %8s\n' freeradius "$fr_start" "$fr_peak" "$fr_after" "$fr_idle"
awk -v g="$gh_peak" -v f="$fr_peak" 'BEGIN { printf "\nGatehouse peak is %.2f of FreeRADIUS'"'"'s (target: at most 1.00)\n", g / f }'
