#!/usr/bin/env bash
# Directory logins side by side: Gatehouse ([[directory]]) and Debian's
# FreeRADIUS 3.2 with rlm_ldap, each finding the user with a search as the
# service account and checking the password by binding as the user,
# against the same slapd holding USERS users (default 10,000), over plain
# LDAP and over StartTLS. No second factor (mfa.required = false); every
# request is a different user drawn at random, with the right password.
# Gatehouse runs twice per transport: binding at every login (the default)
# and with [[directory]] cache_seconds = CACHE_SECONDS (default 300: a
# password the directory accepted is remembered for the entry's revision;
# the entry is still searched at every login).
#
# For each server and each transport it prints
#   - "first logins": every user once (for Gatehouse, each one's first login
#     of the month, a new seat counted), then REQUESTS requests of users
#     drawn at random (users already counted: the everyday case), each as
#     logins/s under radclient (PARALLEL in flight), the server's CPU per
#     login and slapd's CPU per login (utime + stime from /proc: the
#     directory's cost of each login counts too);
#   - the latency of logins paced at RATE a second for SECONDS
#     (bench/paced_logins.py): p50, p90, p99.
#
#   bench/directory.sh
#   USERS=2000 REQUESTS=20000 bench/directory.sh
#   STARTTLS=false CACHES=300 FREERADIUS=0 bench/directory.sh   # Gatehouse only, plain LDAP,
#                                                                  # cache on (e.g. to profile)
#   GH_PRELOAD=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2 bench/directory.sh
#                                                  # Gatehouse on another allocator
#
# Needs: slapd, ldap-utils, openssl, freeradius, freeradius-ldap,
# freeradius-utils (radclient), python3; run as root (FreeRADIUS, slapd).
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-10000}
REQUESTS=${REQUESTS:-50000}
PARALLEL=${PARALLEL:-64}
RATE=${RATE:-200}
SECONDS_PACED=${SECONDS_PACED:-30}
CACHE_SECONDS=${CACHE_SECONDS:-300}
STARTTLS=${STARTTLS:-false true}
CACHES=${CACHES:-0 $CACHE_SECONDS}
FREERADIUS=${FREERADIUS:-1}
SECRET=bench-shared-secret
GH_PORT=${GH_PORT:-18852}
FR_PORT=${FR_PORT:-18862}
LDAP_PORT=${LDAP_PORT:-18389}
BASE=dc=bench,dc=test
ADMIN="cn=admin,$BASE"
ADMIN_PW=admin-secret

source bench/common.sh
need bench/directory.sh radclient freeradius slapd slapadd ldapsearch openssl python3
[ -e /usr/lib/freeradius/rlm_ldap.so ] || { echo "bench/directory.sh needs freeradius-ldap" >&2; exit 2; }
build_release
start_work
chmod 755 "$work"

# --- slapd: a private CA, a certificate for localhost (and the host's name,
# which libldap checks when it connects to localhost), USERS users ---------
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench-ca -keyout "$work/ca.key" \
  -out "$work/ca.pem" -addext basicConstraints=critical,CA:TRUE 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$work/server.key" \
  -out "$work/server.csr" 2>/dev/null
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
  -days 2 -extfile <(printf 'subjectAltName=DNS:localhost,DNS:%s,IP:127.0.0.1\n' "$(hostname)") \
  -out "$work/server.pem" 2>/dev/null
mkdir "$work/db"
cat > "$work/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile $work/slapd.pid
TLSCACertificateFile $work/ca.pem
TLSCertificateFile $work/server.pem
TLSCertificateKeyFile $work/server.key
loglevel 0
database mdb
maxsize 1073741824
suffix "$BASE"
rootdn "$ADMIN"
rootpw $ADMIN_PW
directory $work/db
index uid,mail eq
index objectClass eq
EOF
python3 - "$work" "$USERS" "$BASE" <<'PY'
import sys
work, users, base = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(f"{work}/users.ldif", "w") as ldif, open(f"{work}/users.tsv", "w") as tsv:
    ldif.write(f"dn: {base}\nobjectClass: domain\ndc: bench\n\n")
    ldif.write(f"dn: ou=people,{base}\nobjectClass: organizationalUnit\nou: people\n\n")
    for i in range(users):
        name = f"user{i:05d}"
        ldif.write(f"dn: uid={name},ou=people,{base}\nobjectClass: inetOrgPerson\nuid: {name}\n"
                   f"cn: User {i}\nsn: {i}\nuserPassword: {name}-pw\n\n")
        tsv.write(f"{name}\t{name}-pw\n")
PY
slapadd -q -f "$work/slapd.conf" -l "$work/users.ldif" 2>/dev/null
slapd -f "$work/slapd.conf" -h "ldap://127.0.0.1:$LDAP_PORT/" -d 0 >/dev/null 2>&1 &
slapd_pid=$!
pids+=("$slapd_pid")
for _ in $(seq 1 100); do
  ldapsearch -x -H "ldap://127.0.0.1:$LDAP_PORT" -D "$ADMIN" -w "$ADMIN_PW" -b "$BASE" -s base >/dev/null 2>&1 && break
  sleep 0.1
done

# The loads: first.txt has every user once, in order (each one's first
# login of the month: Gatehouse counts a new seat); load.txt has REQUESTS
# requests, each a user drawn at random (users Gatehouse already counted).
python3 - "$work" "$REQUESTS" <<'PY'
import random, sys
work, requests = sys.argv[1], int(sys.argv[2])
random.seed(11)
users = [line.rstrip("\n").split("\t") for line in open(f"{work}/users.tsv")]
def request(name, password):
    return f'User-Name = "{name}", User-Password = "{password}", Message-Authenticator = 0x00\n\n'
with open(f"{work}/first.txt", "w") as f:
    f.writelines(request(name, password) for name, password in users)
with open(f"{work}/load.txt", "w") as f:
    f.writelines(request(*random.choice(users)) for _ in range(requests))
PY

# run NAME PID PORT LOAD COUNT: sends LOAD through radclient and prints the
# line of one server on one transport.
run() {
  local name=$1 pid=$2 port=$3 load=$4 count=$5
  local before after ldap_before ldap_after start end summary accepted
  before=$(cpu_ticks "$pid")
  ldap_before=$(cpu_ticks "$slapd_pid")
  start=$(date +%s.%N)
  summary=$(radclient -q -s -f "$load" -p "$PARALLEL" -t 10 -r 1 "127.0.0.1:$port" auth "$SECRET" 2>&1 || true)
  end=$(date +%s.%N)
  after=$(cpu_ticks "$pid")
  ldap_after=$(cpu_ticks "$slapd_pid")
  accepted=$(awk -F: '/Accepted/ { gsub(/[ \t]/, "", $2); print $2 }' <<<"$summary")
  awk -v name="$name" -v t="$count" -v a="${accepted:-0}" -v s="$start" -v e="$end" \
    -v c=$((after - before)) -v l=$((ldap_after - ldap_before)) -v hz="$ticks_per_second" \
    'BEGIN { printf "%-42s %7d/%d %9.0f %12.0f %12.0f %12.0f\n", name, a, t, a / (e - s),
             c / hz * 1e6 / t, l / hz * 1e6 / t, (c + l) / hz * 1e6 / t }'
}

# measure NAME PID PORT: every user's first login, then the random load,
# then the paced latency.
measure() {
  run "$1, first logins" "$2" "$3" "$work/first.txt" "$USERS"
  run "$1" "$2" "$3" "$work/load.txt" "$REQUESTS"
  python3 bench/paced_logins.py 127.0.0.1 "$3" "$SECRET" "$work/users.tsv" "$RATE" "$SECONDS_PACED" |
    sed "s/^/    /"
}

# --- Gatehouse ---------------------------------------------------------------
start_gatehouse() { # URL STARTTLS CACHE_SECONDS
  local dir=$work/gatehouse-$2-$3
  mkdir -p "$dir"
  cat > "$dir/gatehouse.toml" <<EOF
[license]
timezone = "UTC"

[mfa]
required = false

[log]
level = "info"

[radius]
listen = "127.0.0.1:$GH_PORT"

[[radius.clients]]
name = "bench"
networks = ["127.0.0.1"]
secret = "$SECRET"

[[directory]]
name = "bench"
kind = "openldap"
urls = ["$1"]
starttls = $2
ca_file = "$work/ca.pem"
bind_dn = "$ADMIN"
bind_password = "$ADMIN_PW"
base_dn = "ou=people,$BASE"
timeout_ms = 5000
cache_seconds = $3
EOF
  licensed_gatehouse "$dir"
  serve_gatehouse "$dir"
  wait_for_radius "$GH_PORT" user00000 user00000-pw
}

# --- FreeRADIUS with rlm_ldap -------------------------------------------------
start_freeradius() { # URL-HOST STARTTLS
  local fr=$work/freeradius-$2
  freeradius_config "$fr" auth-log
  rm -f "$fr"/sites-enabled/* "$fr"/mods-enabled/eap
  cat > "$fr/mods-enabled/ldap" <<EOF
ldap {
	server = '$1'
	port = $LDAP_PORT
	identity = '$ADMIN'
	password = '$ADMIN_PW'
	base_dn = 'ou=people,$BASE'
	user {
		base_dn = "\${..base_dn}"
		filter = "(uid=%{%{Stripped-User-Name}:-%{User-Name}})"
	}
	options {
		chase_referrals = no
		rebind = no
		res_timeout = 10
		srv_timelimit = 3
		net_timeout = 5
	}
	tls {
		start_tls = $([ "$2" = true ] && echo yes || echo no)
		ca_file = $work/ca.pem
		require_cert = 'demand'
	}
	pool {
		start = 5
		min = 4
		max = 32
		spare = 10
		uses = 0
		retry_delay = 30
		lifetime = 0
		idle_timeout = 60
	}
}
EOF
  cat > "$fr/sites-enabled/bench" <<EOF
server bench {
	listen {
		type = auth
		ipaddr = 127.0.0.1
		port = $FR_PORT
	}
	authorize {
		ldap
		if ((ok || updated) && User-Password) {
			update control {
				&Auth-Type := ldap
			}
		}
	}
	authenticate {
		Auth-Type ldap {
			ldap
		}
	}
}
EOF
  freeradius -f -d "$fr" -l "$fr/freeradius.log" >/dev/null 2>&1 &
  fr_pid=$!
  pids+=("$fr_pid")
  wait_for_radius "$FR_PORT" user00000 user00000-pw
}

stop() { kill "$1"; wait "$1" 2>/dev/null || true; }

printf '%d directory users, %d requests with %d in flight, then %d/s for %d s\n\n' \
  "$USERS" "$REQUESTS" "$PARALLEL" "$RATE" "$SECONDS_PACED"
printf '%-42s %14s %9s %12s %12s %12s\n' "server, transport" accepted logins/s \
  "server µs" "slapd µs" "together µs"
for tls in $STARTTLS; do
  host=127.0.0.1
  [ "$tls" = true ] && host=localhost
  for cache in $CACHES; do
    start_gatehouse "ldap://$host:$LDAP_PORT" "$tls" "$cache"
    measure "gatehouse, starttls=$tls, cache=$cache" "$gh_pid" "$GH_PORT"
    stop "$gh_pid"
  done
  [ "$FREERADIUS" = 1 ] || continue
  start_freeradius "$host" "$tls"
  measure "freeradius, starttls=$tls" "$fr_pid" "$FR_PORT"
  stop "$fr_pid"
done
