# Sourced by the benchmarks that run Gatehouse beside FreeRADIUS
# (bench/radius.sh, bench/memory.sh, bench/directory.sh): the tools they
# need, the release build, a work directory removed at exit with the
# processes started in it (KEEP=1 keeps the directory), CPU ticks from
# /proc, FreeRADIUS's configuration and waiting for a RADIUS server.

# need SCRIPT TOOL...: exits naming the first tool missing.
need() {
  local script=$1 tool
  shift
  for tool; do
    command -v "$tool" >/dev/null || PATH=$PATH:/usr/sbin
    command -v "$tool" >/dev/null || { echo "$script needs $tool (apt-get install freeradius freeradius-utils, or the package that has it)" >&2; exit 2; }
  done
}

# build_release: sets GH and VENDOR. The published development vendor key
# signs the benchmarks' licenses: only a build with the development-key
# feature trusts it.
build_release() {
  echo "building release binaries..." >&2
  cargo build --release --quiet -p gatehouse -p gatehouse-vendor --features gatehouse/development-key
  GH=$PWD/target/release/gatehouse
  VENDOR=$PWD/target/release/gatehouse-vendor
}

# start_work: sets work (a fresh directory) and pids (processes to stop at
# exit; append to it).
start_work() {
  work=$(mktemp -d)
  pids=()
  trap cleanup EXIT
}

cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}

# serve_gatehouse DIR: starts `gatehouse serve` on the installation in DIR
# (its log in DIR/serve.log), on another allocator when GH_PRELOAD names
# one; sets gh_pid and adds it to pids.
serve_gatehouse() {
  env ${GH_PRELOAD:+LD_PRELOAD=$GH_PRELOAD} "$GH" --data-dir "$1" serve >/dev/null 2>"$1/serve.log" &
  gh_pid=$!
  pids+=("$gh_pid")
}

ticks_per_second=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# licensed_gatehouse DIR: installs a development-key license for 1,000,000
# users on the installation in DIR (its gatehouse.toml written already).
licensed_gatehouse() {
  local dir=$1 app_key key
  app_key=$("$GH" --data-dir "$dir" license show --json 2>/dev/null | awk -F'"' '/"app_key"/ { print $4 }')
  key=$("$VENDOR" issue --signing-key keys/dev-vendor.key --app-key "$app_key" --company Benchmark \
    --dossier BENCH --users 1000000 --type subscription --support-end 2099-12-31)
  "$GH" --data-dir "$dir" license install "$key" >/dev/null 2>&1
}

# freeradius_config DIR [auth-log]: a copy of Debian's FreeRADIUS 3.2
# configuration in DIR that runs as root and knows the client 127.0.0.1 with
# SECRET; with auth-log it logs every decision, as Gatehouse does.
freeradius_config() {
  local fr=$1
  cp -a /etc/freeradius/3.0 "$fr"
  sed -i 's/^\(\s*\)user = freerad/\1#user = freerad/; s/^\(\s*\)group = freerad/\1#group = freerad/' "$fr/radiusd.conf"
  if [ "${2:-}" = auth-log ]; then
    sed -i 's/^\(\s*\)auth = no/\1auth = yes/' "$fr/radiusd.conf"
  fi
  cat > "$fr/clients.conf" <<CLIENTS
client bench {
	ipaddr = 127.0.0.1
	secret = $SECRET
}
CLIENTS
}

# freeradius_pap DIR PORT: the stock default site, answering PAP from its
# users file (the lines on standard input come first) on one IPv4 listener
# for auth on PORT (the stock file also listens on IPv6 and on 1812/1813).
freeradius_pap() {
  local fr=$1 port=$2
  rm -f "$fr/sites-enabled/inner-tunnel"
  {
    cat
    cat /etc/freeradius/3.0/mods-config/files/authorize
  } > "$fr/mods-config/files/authorize"
  python3 - "$fr/sites-enabled/default" "$port" <<'PY'
import re, sys
path, port = sys.argv[1], sys.argv[2]
text = open(path).read()
for block in reversed(list(re.finditer(r"^listen \{.*?^\}\n", text, re.S | re.M))):
    text = text[:block.start()] + text[block.end():]
auth = "listen {\n\ttype = auth\n\tipaddr = 127.0.0.1\n\tport = %s\n}\n" % port
# The listener must sit inside the virtual server that authorizes.
text = text.replace("server default {\n", "server default {\n" + auth, 1)
open(path, "w").write(text)
PY
}

# wait_for_radius PORT USER PASSWORD: until a PAP request is answered (up
# to 20 s); exits if nothing answers.
wait_for_radius() {
  local port=$1
  for _ in $(seq 1 100); do
    if printf 'User-Name = "%s", User-Password = "%s", Message-Authenticator = 0x00\n' "$2" "$3" |
      radclient -q -t 1 -r 1 "127.0.0.1:$port" auth "$SECRET" >/dev/null 2>&1; then
      return
    fi
    sleep 0.2
  done
  echo "nothing answers on port $port" >&2
  exit 1
}
