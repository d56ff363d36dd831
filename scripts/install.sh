#!/bin/sh
# Installs a built abupdate (npm run build) on a host: code, command, systemd units, docs, vendor config, key dirs.
# Usage: scripts/install.sh [--enable]
#   DESTDIR=/staging  install below a staging root (packaging, tests); no systemctl calls then
#   PREFIX=/usr       where lib/abupdate, bin/abupdate, share/abupdate and lib/systemd go
#   NODE=/usr/bin/node  the Node.js (>= 20.15) the unit and the command run
#   ABUPDATE_NODE_MODULES=copy|install|skip  copy this tree's node_modules (default), "npm ci --omit=dev" there, or neither
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr}
NODE=${NODE:-$(command -v node || echo /usr/bin/node)}
MODULES=${ABUPDATE_NODE_MODULES:-copy}
# Node's flags for every abupdate process (one place: scripts/node-flags; why: docs/engine.md "Memory").
NODE_FLAGS=$(cat "$SRC/scripts/node-flags")
ENABLE=no
for arg in "$@"; do
  case "$arg" in
    --enable) ENABLE=yes ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

LIBDIR="$PREFIX/lib/abupdate"
UNITDIR="$PREFIX/lib/systemd/system"
DOCDIR="$PREFIX/share/doc/abupdate"

if [ ! -f "$SRC/dist/src/cli/main.js" ]; then
  echo "install.sh: $SRC/dist is missing: run \"npm run build\" first" >&2
  exit 1
fi
if [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (or set DESTDIR to stage the files)" >&2
  exit 1
fi

echo "installing abupdate into ${DESTDIR}${LIBDIR}"
install -d -m 0755 "$DESTDIR$LIBDIR" "$DESTDIR$PREFIX/bin" "$DESTDIR$UNITDIR" "$DESTDIR$PREFIX/share/abupdate/keys.d" "$DESTDIR$DOCDIR"
rm -rf "$DESTDIR$LIBDIR/dist"
cp -R "$SRC/dist" "$DESTDIR$LIBDIR/dist"
install -m 0644 "$SRC/package.json" "$DESTDIR$LIBDIR/package.json"
[ -f "$SRC/package-lock.json" ] && install -m 0644 "$SRC/package-lock.json" "$DESTDIR$LIBDIR/package-lock.json"
case "$MODULES" in
  copy)
    rm -rf "$DESTDIR$LIBDIR/node_modules"
    cp -R "$SRC/node_modules" "$DESTDIR$LIBDIR/node_modules"
    ;;
  # Scripts off, except fs-ext's native build (flock for the run lock; needs g++, make, python3 and Node's headers).
  install) (cd "$DESTDIR$LIBDIR" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm rebuild fs-ext --no-audit --no-fund) ;;
  skip) ;;
  *) echo "install.sh: ABUPDATE_NODE_MODULES must be copy, install or skip" >&2; exit 2 ;;
esac

# The command: a two-line wrapper, so the unit and people run the same thing.
cat > "$DESTDIR$PREFIX/bin/abupdate" <<WRAPPER
#!/bin/sh
exec "$NODE" $NODE_FLAGS "$LIBDIR/dist/src/cli/main.js" "\$@"
WRAPPER
chmod 0755 "$DESTDIR$PREFIX/bin/abupdate"
# update_engine_client: the same program, entered under update_engine's client's name (docs/service.md).
cat > "$DESTDIR$PREFIX/bin/update_engine_client" <<WRAPPER
#!/bin/sh
ABUPDATE_PROGRAM=update_engine_client exec "$NODE" $NODE_FLAGS "$LIBDIR/dist/src/cli/main.js" "\$@"
WRAPPER
chmod 0755 "$DESTDIR$PREFIX/bin/update_engine_client"

# The D-Bus policy of com.coreos.update1: root owns the name, every user may call its three methods.
install -d -m 0755 "$DESTDIR$PREFIX/share/dbus-1/system.d"
install -m 0644 "$SRC/systemd/com.coreos.update1.conf" "$DESTDIR$PREFIX/share/dbus-1/system.d/com.coreos.update1.conf"

# The units: the daemon, and the post-boot health check that commits or rolls back on every boot.
for unit in abupdate.service abupdate-post-boot.service; do
  sed -e "s|@NODE@|$NODE|g" -e "s|@NODE_FLAGS@|$NODE_FLAGS|g" -e "s|@LIBDIR@|$LIBDIR|g" -e "s|@DOCDIR@|$DOCDIR|g" "$SRC/systemd/$unit" > "$DESTDIR$UNITDIR/$unit"
  chmod 0644 "$DESTDIR$UNITDIR/$unit"
done
for doc in "$SRC"/docs/*.md "$SRC/README.md"; do
  [ -f "$doc" ] && install -m 0644 "$doc" "$DESTDIR$DOCDIR/"
done

# Vendor defaults are replaced on every install; the admin's /etc file is never overwritten.
install -m 0644 "$SRC/systemd/update.conf" "$DESTDIR$PREFIX/share/abupdate/update.conf"
install -d -m 0755 "$DESTDIR/etc/abupdate" "$DESTDIR/etc/abupdate/keys.d" "$DESTDIR/etc/abupdate/health.d"
if [ ! -e "$DESTDIR/etc/abupdate/update.conf" ]; then
  cat > "$DESTDIR/etc/abupdate/update.conf" <<'CONF'
# This host's abupdate settings; they override /usr/share/abupdate/update.conf key by key.
# Check the result with "abupdate config". Keys: docs/service.md.
#SERVER=https://nebraska.example.com/v1/update/
#GROUP=stable
#COMPATIBLE=my-product-x86_64
#REBOOT_STRATEGY=reboot
#REBOOT_WINDOW_START="Thu 04:00"
#REBOOT_WINDOW_LENGTH=1h
CONF
  chmod 0644 "$DESTDIR/etc/abupdate/update.conf"
fi

if [ -z "$DESTDIR" ] && command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload || true
  if [ "$ENABLE" = yes ]; then
    systemctl enable abupdate-post-boot.service
    systemctl enable --now abupdate.service
  else
    echo "put the release public key into /etc/abupdate/keys.d/, set SERVER and COMPATIBLE in /etc/abupdate/update.conf,"
    echo "then: systemctl enable abupdate-post-boot.service && systemctl enable --now abupdate.service"
  fi
fi
echo "done"
