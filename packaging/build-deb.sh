#!/usr/bin/env bash
# Builds the Debian package of Gatehouse:
#   target/debian/gatehouse_VERSION-1_ARCH.deb
#
# The package trusts the vendor public keys it is built with, and only
# them: GATEHOUSE_TRUSTED_VENDOR_KEYS must name the file(s) (`:`-separated,
# made with `gatehouse-vendor keygen`). A build that would trust the
# published development key is refused.
#
#   GATEHOUSE_TRUSTED_VENDOR_KEYS=/secure/vendor.pub packaging/build-deb.sh
#
# Optional: DEB_REVISION (default 1), DEB_MAINTAINER ("Name <email>").
# Needs: cargo, dpkg-deb, strip and objdump (binutils).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "packaging/build-deb.sh: $*" >&2; exit 2; }

keys=${GATEHOUSE_TRUSTED_VENDOR_KEYS:-}
[ -n "$keys" ] || fail "set GATEHOUSE_TRUSTED_VENDOR_KEYS to your vendor public key file(s); a package trusts no others"
for tool in dpkg-deb strip objdump; do
  command -v "$tool" >/dev/null || fail "needs $tool"
done

version=$(awk -F'"' '/^\[workspace.package\]/ { in_ws = 1 } in_ws && /^version *=/ { print $2; exit }' Cargo.toml)
[ -n "$version" ] || fail "no version in Cargo.toml's [workspace.package]"
revision=${DEB_REVISION:-1}
arch=$(dpkg --print-architecture)
maintainer=${DEB_MAINTAINER:-"Gatehouse packager <root@localhost>"}

echo "building gatehouse $version (release) trusting $keys..." >&2
# The packaged binary finds the service's installation by itself, so an
# administrator's `gatehouse users` reads what the service runs.
GATEHOUSE_TRUSTED_VENDOR_KEYS=$keys \
GATEHOUSE_PACKAGE_DATA_DIR=/var/lib/gatehouse \
GATEHOUSE_PACKAGE_CONFIG=/etc/gatehouse/gatehouse.toml \
  cargo build --release --locked --quiet -p gatehouse
binary=target/release/gatehouse

trusted=$("$binary" --version)
if grep -q "development key trusted" <<<"$trusted"; then
  fail "this build trusts the published development vendor key; list only your own keys in GATEHOUSE_TRUSTED_VENDOR_KEYS"
fi
grep -q "SHA256:" <<<"$trusted" || fail "the build trusts no vendor key: $trusted"

stage=target/debian/stage
rm -rf "$stage"
install -D -m 0755 "$binary" "$stage/usr/bin/gatehouse"
strip --strip-unneeded "$stage/usr/bin/gatehouse"
install -D -m 0644 packaging/debian/gatehouse.service "$stage/lib/systemd/system/gatehouse.service"
install -D -m 0640 packaging/debian/gatehouse.toml "$stage/etc/gatehouse/gatehouse.toml"
install -D -m 0644 README.md "$stage/usr/share/doc/gatehouse/README.md"
install -D -m 0644 docs/SPEC.md "$stage/usr/share/doc/gatehouse/SPEC.md"
install -D -m 0644 packaging/debian/copyright "$stage/usr/share/doc/gatehouse/copyright"
install -d -m 0755 "$stage/DEBIAN"
for script in postinst prerm postrm; do
  install -m 0755 "packaging/debian/$script" "$stage/DEBIAN/$script"
done
echo /etc/gatehouse/gatehouse.toml > "$stage/DEBIAN/conffiles"

# The newest glibc symbol version the binary uses is the libc it needs.
glibc=$(objdump -T "$stage/usr/bin/gatehouse" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
installed_kib=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: gatehouse
Version: $version-$revision
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_kib
Depends: libc6 (>= $glibc), libgcc-s1, adduser
Section: net
Priority: optional
Description: multi-factor authentication server for RADIUS clients
 Gatehouse answers VPN gateways, firewalls and Wi-Fi controllers over
 RADIUS: it checks a password (local, or LDAP / Active Directory) and a
 second factor (TOTP or a push approval), and enforces the installation's
 license (unique users per calendar month, a Support End Date). A web
 panel, a JSON API and a command line administer it.
 .
 Trusted vendor keys: $(grep -o 'SHA256:[A-Za-z0-9+/=]*' <<<"$trusted" | paste -sd ' ' -)
CONTROL

deb="target/debian/gatehouse_${version}-${revision}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
rm -rf "$stage"
echo "$deb ($(du -k "$deb" | cut -f1) KiB, $installed_kib KiB installed)" >&2
echo "$deb"
