#!/usr/bin/env bash
# Server CPU per RADIUS request: Gatehouse against Debian's FreeRADIUS 3.2
# (PAP from its users file), both on loopback, both driven by the same
# radclient load. On a 2-core machine radclient itself saturates near 20k
# requests/s, so the figure that compares the servers is CPU seconds per
# 100k requests (utime + stime of the server process, from /proc), not
# requests/s.
#
# The load is radclient's: one request (a returning user with a password)
# sent REQUESTS times, PARALLEL in flight. For Gatehouse
# passwords.cache_seconds is on: a repeated login is answered from the
# verified-password cache instead of argon2, so the comparison measures the
# RADIUS and license path (packet checks, Message-Authenticator, the month's
# seat cache, the decision log line), not password hashing. Every request
# carries a Message-Authenticator, verified by both servers.
#
# A third server, the floor (crates/radius/examples/floor.rs), does the
# least any RADIUS server must: receive, parse, verify the
# Message-Authenticator, send an Access-Accept with its own. Its cost on
# the same load is mostly the kernel's (the datagram in, the wake of the
# receiving thread, the datagram out), and Gatehouse's is shown as a
# multiple of it.
#
# Gatehouse decides each login under one policy that adds two attributes to
# the Access-Accept (Class and Session-Timeout), as a gateway in front of
# VPN users needs; POLICY=0 runs it with none.
#
#   bench/radius.sh                    3 rounds of 100,000 requests, 64 in flight
#   REQUESTS=200000 PARALLEL=32 ROUNDS=5 bench/radius.sh
#
# Needs: freeradius, freeradius-utils (radclient); run as root (FreeRADIUS).
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${REQUESTS:-100000}
PARALLEL=${PARALLEL:-64}
ROUNDS=${ROUNDS:-3}
POLICY=${POLICY:-1}
SECRET=bench-shared-secret
GH_PORT=${GH_PORT:-18812}
FR_PORT=${FR_PORT:-18822}
FLOOR_PORT=${FLOOR_PORT:-18832}

source bench/common.sh
need bench/radius.sh radclient freeradius
build_release
cargo build --release --quiet -p gatehouse-radius --example floor
FLOOR=$PWD/target/release/examples/floor
start_work

REQUEST='User-Name = "bench", User-Password = "bench-pw", Message-Authenticator = 0x00'
printf '%s\n' "$REQUEST" > "$work/request.txt"

# measure NAME PID PORT: sets RESULT to "requests/s cpu-seconds-per-100k".
measure() {
  local name=$1 pid=$2 port=$3
  # Warm-up: the user logs in (counted, caches filled).
  radclient -q -f "$work/request.txt" -c 100 -p "$PARALLEL" "127.0.0.1:$port" auth "$SECRET" >/dev/null
  local before after start end summary accepted
  before=$(cpu_ticks "$pid")
  start=$(date +%s.%N)
  summary=$(radclient -q -s -f "$work/request.txt" -c "$REQUESTS" -p "$PARALLEL" "127.0.0.1:$port" auth "$SECRET" 2>&1 || true)
  end=$(date +%s.%N)
  after=$(cpu_ticks "$pid")
  accepted=$(awk -F: '/Accepted/ { gsub(/[ \t]/, "", $2); print $2 }' <<<"$summary")
  if [ "${accepted:-0}" != "$REQUESTS" ]; then
    echo "$name: only ${accepted:-0} of $REQUESTS requests were accepted:" >&2
    echo "$summary" >&2
    exit 1
  fi
  RESULT=$(awk -v t="$REQUESTS" -v s="$start" -v e="$end" -v c=$((after - before)) -v hz="$ticks_per_second" \
    'BEGIN { printf "%.0f %.3f", t / (e - s), (c / hz) * 100000 / t }')
}

# --- Gatehouse -------------------------------------------------------------
mkdir -p "$work/gatehouse"
cat > "$work/gatehouse/gatehouse.toml" <<EOF
[license]
timezone = "UTC"

[passwords]
cache_seconds = 3600

[log]
level = "info"

[radius]
listen = "127.0.0.1:$GH_PORT"

[[radius.clients]]
name = "bench"
networks = ["127.0.0.1"]
secret = "$SECRET"
EOF
if [ "$POLICY" = 1 ]; then
  cat >> "$work/gatehouse/gatehouse.toml" <<'EOF'

[[policy]]
name = "vpn users"
clients = ["bench"]
reply = [
  { attribute = "Class", value = "vpn-%{user}" },
  { attribute = "Session-Timeout", value = 28800 },
]
EOF
fi
gh() { "$GH" --data-dir "$work/gatehouse" "$@" 2>/dev/null; }
licensed_gatehouse "$work/gatehouse"
printf 'bench-pw\n' | gh local-user add bench --password-stdin --no-second-factor >/dev/null
serve_gatehouse "$work/gatehouse"

# --- FreeRADIUS ------------------------------------------------------------
fr=$work/freeradius
# Like Gatehouse (one line per decision), FreeRADIUS logs every decision.
freeradius_config "$fr" auth-log
printf 'bench Cleartext-Password := "bench-pw"\n' | freeradius_pap "$fr" "$FR_PORT"
freeradius -f -d "$fr" -l "$work/freeradius.log" >/dev/null 2>&1 &
fr_pid=$!
pids+=("$fr_pid")

# --- The floor -------------------------------------------------------------
"$FLOOR" "127.0.0.1:$FLOOR_PORT" "$SECRET" &
floor_pid=$!
pids+=("$floor_pid")

# Wait for all three to answer.
for port in "$GH_PORT" "$FR_PORT" "$FLOOR_PORT"; do
  wait_for_radius "$port" bench bench-pw
done

# Rounds alternate between the servers, so a slow moment of the machine
# hits both; the median round of each is reported.
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
gh_rps_all=() gh_cpu_all=() fr_rps_all=() fr_cpu_all=() floor_rps_all=() floor_cpu_all=()
for ((round = 1; round <= ROUNDS; round++)); do
  echo "round $round of $ROUNDS: $REQUESTS requests, $PARALLEL in flight, at each server..." >&2
  measure gatehouse "$gh_pid" "$GH_PORT"
  read -r rps cpu <<<"$RESULT"; gh_rps_all+=("$rps"); gh_cpu_all+=("$cpu")
  measure freeradius "$fr_pid" "$FR_PORT"
  read -r rps cpu <<<"$RESULT"; fr_rps_all+=("$rps"); fr_cpu_all+=("$cpu")
  measure floor "$floor_pid" "$FLOOR_PORT"
  read -r rps cpu <<<"$RESULT"; floor_rps_all+=("$rps"); floor_cpu_all+=("$cpu")
  echo "  gatehouse ${gh_cpu_all[-1]} s, freeradius ${fr_cpu_all[-1]} s, floor ${floor_cpu_all[-1]} s per 100k" >&2
done
gh_rps=$(printf '%s\n' "${gh_rps_all[@]}" | median)
gh_cpu=$(printf '%s\n' "${gh_cpu_all[@]}" | median)
fr_rps=$(printf '%s\n' "${fr_rps_all[@]}" | median)
fr_cpu=$(printf '%s\n' "${fr_cpu_all[@]}" | median)
floor_rps=$(printf '%s\n' "${floor_rps_all[@]}" | median)
floor_cpu=$(printf '%s\n' "${floor_cpu_all[@]}" | median)
printf '\nmedian of %d rounds\n%-12s %12s %26s\n' "$ROUNDS" server requests/s "CPU seconds per 100k"
printf '%-12s %12s %26s\n' gatehouse "$gh_rps" "$gh_cpu"
printf '%-12s %12s %26s\n' freeradius "$fr_rps" "$fr_cpu"
printf '%-12s %12s %26s\n' floor "$floor_rps" "$floor_cpu"
awk -v g="$gh_cpu" -v f="$fr_cpu" 'BEGIN { printf "\nGatehouse uses %.2f of FreeRADIUS'"'"'s CPU per request (target: at most 0.50)\n", g / f }'
awk -v g="$gh_cpu" -v f="$floor_cpu" 'BEGIN { printf "Gatehouse uses %.1f times the floor'"'"'s CPU per request (target: at most 4)\n", g / f }'
