#!/usr/bin/env bash
# Builds the Debian package, installs it on this machine, runs the packaged
# service as its unit would (the gatehouse user, the unit's ExecStart, its
# capability and umask, systemd's notify socket), logs a user in over
# RADIUS with radclient, then purges the package and checks nothing is
# left. `.ci/run` calls it; it needs root, and a machine where Gatehouse is
# not installed (it installs and purges the package).
#
# Needs: dpkg, setpriv and runuser (util-linux), radclient, python3, and
# what packaging/build-deb.sh needs.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== package: %s\n' "$*"; }
fail() { echo "packaging/test-deb.sh: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (it installs the package)"
if dpkg -s gatehouse >/dev/null 2>&1 || [ -e /var/lib/gatehouse ] || [ -e /etc/gatehouse ]; then
  fail "Gatehouse is already installed here (package, /var/lib/gatehouse or /etc/gatehouse); this test installs and purges its own"
fi
for tool in setpriv runuser radclient python3; do
  command -v "$tool" >/dev/null || fail "needs $tool"
done

work=$(mktemp -d /tmp/gatehouse-deb.XXXXXX)
chmod 0755 "$work"
service_pid=
listener_pid=
cleanup() {
  [ -n "$service_pid" ] && kill "$service_pid" 2>/dev/null || true
  [ -n "$listener_pid" ] && kill "$listener_pid" 2>/dev/null || true
  if dpkg -s gatehouse >/dev/null 2>&1; then dpkg --purge gatehouse >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

log "a vendor key of our own (the package must not trust the development key)"
cargo build --quiet -p gatehouse-vendor
vendor=target/debug/gatehouse-vendor
"$vendor" keygen --out "$work/vendor" >/dev/null

log "building the package"
deb=$(GATEHOUSE_TRUSTED_VENDOR_KEYS="$work/vendor/vendor.pub" packaging/build-deb.sh)
deb_kib=$(du -k "$deb" | cut -f1)
installed_kib=$(dpkg-deb -f "$deb" Installed-Size)
echo "$deb: $deb_kib KiB, $installed_kib KiB installed"
dpkg-deb -c "$deb"

log "dpkg -i"
dpkg -i "$deb"
id gatehouse
[ "$(stat -c '%U:%G %a' /var/lib/gatehouse)" = "gatehouse:gatehouse 700" ] || fail "/var/lib/gatehouse: $(stat -c '%U:%G %a' /var/lib/gatehouse)"
[ "$(stat -c '%U:%G %a' /etc/gatehouse/gatehouse.toml)" = "root:gatehouse 640" ] || fail "gatehouse.toml: $(stat -c '%U:%G %a' /etc/gatehouse/gatehouse.toml)"
dpkg-query -W -f='${Conffiles}\n' gatehouse | grep -q '/etc/gatehouse/gatehouse.toml' || fail "gatehouse.toml is not a conffile"
unit=/lib/systemd/system/gatehouse.service
[ -f "$unit" ] || fail "no $unit"
gatehouse --version

if command -v systemd-analyze >/dev/null; then
  log "systemd-analyze verify"
  # Run outside a booted systemd, it may complain of the host's other
  # units; only lines naming ours count.
  verify=$(systemd-analyze verify "$unit" 2>&1 || true)
  printf '%s\n' "$verify"
  if grep -i 'gatehouse' <<<"$verify" | grep -vi 'Cannot add dependency job\|Failed to .*network-online' | grep -q .; then
    fail "systemd-analyze verify found problems in $unit"
  fi
  security=$(systemd-analyze security --offline=true "$unit" 2>/dev/null | tail -n 1 || true)
  [ -n "$security" ] && echo "systemd-analyze security: $security"
else
  echo "SKIP systemd-analyze verify: systemd-analyze is not installed"
fi

log "starting the packaged service as its unit would"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[ -n "$exec_start" ] || fail "no ExecStart in $unit"
# systemd's notify socket, as a service sees it.
python3 - "$work/notify" "$work/notifications" <<'PY' &
import os, socket, sys
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o777)
with open(out, "a", buffering=1) as f:
    while True:
        f.write(s.recv(4096).decode() + "--\n")
PY
listener_pid=$!
for _ in $(seq 1 50); do [ -S "$work/notify" ] && break; sleep 0.1; done
# User=, Group=, AmbientCapabilities=, CapabilityBoundingSet=,
# NoNewPrivileges=, UMask=, WorkingDirectory / and a clean environment.
(
  cd /
  umask 0077
  # shellcheck disable=SC2086 # ExecStart is split into words, as systemd does
  exec setpriv --reuid=gatehouse --regid=gatehouse --init-groups \
    --inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service \
    --bounding-set=-all,+net_bind_service --no-new-privs \
    env -i PATH=/usr/bin:/bin NOTIFY_SOCKET="$work/notify" WATCHDOG_USEC=30000000 \
    $exec_start
) >"$work/stdout" 2>"$work/stderr" &
service_pid=$!
for _ in $(seq 1 300); do
  grep -q '^READY=1' "$work/notifications" 2>/dev/null && break
  kill -0 "$service_pid" 2>/dev/null || { cat "$work/stderr"; fail "the service stopped before it was ready"; }
  sleep 0.1
done
grep -q '^READY=1' "$work/notifications" || { cat "$work/stderr"; fail "no READY=1 from the service"; }
sed -n 's/^STATUS=/status: /p' "$work/notifications"
grep -q 'First start: sign in to the panel as "admin"' "$work/stdout" || fail "no first-start password on the service's output (the journal)"
grep -q 'RADIUS listening address=0.0.0.0:1812' "$work/stderr" || { cat "$work/stderr"; fail "RADIUS is not on port 1812"; }

as_service() { runuser -u gatehouse -- "$@"; }

log "the command line, as root and as the service's user"
if root_output=$(gatehouse license show 2>&1); then fail "root ran a command on /var/lib/gatehouse: $root_output"; fi
grep -q 'belongs to gatehouse, not root: run gatehouse as gatehouse' <<<"$root_output" || fail "root's refusal: $root_output"
app_key=$(as_service gatehouse license show --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["app_key"])')
echo "App Key: $app_key"
dev_license=$("$vendor" issue --signing-key keys/dev-vendor.key --app-key "$app_key" --company CI \
  --dossier CI-DEV --users 10 --type subscription --support-end 2099-12-31)
if refused=$(as_service gatehouse license install "$dev_license" 2>&1); then fail "the package accepted a key signed with the development key"; fi
echo "development-key license refused: $refused"
license=$("$vendor" issue --signing-key "$work/vendor/vendor.key" --app-key "$app_key" --company CI \
  --dossier CI-PACKAGE --users 10 --type subscription --support-end 2099-12-31)
as_service gatehouse license install "$license"
echo 'package-test-secret' | as_service gatehouse client add ci --network 127.0.0.1 --secret-stdin
echo 'alice-password' | as_service gatehouse local-user add alice --password-stdin --no-second-factor

log "a RADIUS login with radclient"
request='User-Name = "alice", User-Password = "alice-password", Message-Authenticator = 0x00'
accepted=
# The service loads clients added with the command line within a second.
for _ in $(seq 1 20); do
  if reply=$(printf '%s\n' "$request" | radclient -x -r 1 -t 1 127.0.0.1:1812 auth package-test-secret 2>&1) \
    && grep -q 'Access-Accept' <<<"$reply"; then
    accepted=1
    break
  fi
  sleep 0.5
done
[ -n "$accepted" ] || { printf '%s\n' "$reply"; cat "$work/stderr"; fail "alice was not accepted"; }
printf '%s\n' "$reply" | grep 'Received'
as_service gatehouse users | tee "$work/users"
grep -q alice "$work/users" || fail "alice is not counted"
foreign=$(find /var/lib/gatehouse ! -user gatehouse)
[ -z "$foreign" ] || fail "files in /var/lib/gatehouse not owned by gatehouse: $foreign"
readable=$(find /var/lib/gatehouse -type f -perm /077)
[ -z "$readable" ] || fail "files in /var/lib/gatehouse readable by others: $readable"

log "SIGTERM"
kill -TERM "$service_pid"
status=0
wait "$service_pid" || status=$?
service_pid=
[ "$status" = 0 ] || { cat "$work/stderr"; fail "the service exited with $status"; }
grep -q '^STOPPING=1' "$work/notifications" || fail "no STOPPING=1 at the stop"

log "dpkg --purge"
dpkg --purge gatehouse
for path in /usr/bin/gatehouse /etc/gatehouse /var/lib/gatehouse "$unit" /usr/share/doc/gatehouse \
  /etc/systemd/system/multi-user.target.wants/gatehouse.service; do
  [ ! -e "$path" ] || fail "$path is still there after the purge"
done
if dpkg -s gatehouse >/dev/null 2>&1; then fail "dpkg still knows the package"; fi

log "ok: $deb ($deb_kib KiB, $installed_kib KiB installed)"
