#!/usr/bin/env bash
# Install hingemarch as a systemd service on Raspberry Pi OS, or remove it. Safe to run again: a
# second run changes nothing, and your config is never overwritten. Steps: docs/install.md.
#   sudo systemd/install.sh                       install, or update after a `git pull`
#   sudo systemd/install.sh --uninstall           remove the service and its venv; keep config and sessions
#   sudo systemd/install.sh --uninstall --purge   also remove config, sessions, the user, the broker config
#                                                 and its password file
# ROOT=DIR puts every file under DIR and leaves the running system alone (no apt-get, raspi-config,
# useradd or systemctl): for tests and image staging. HINGEMARCH_SKIP="venv" also skips the venv.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="${ROOT:-}"; ROOT="${ROOT%/}"
SKIP=" ${HINGEMARCH_SKIP:-} "
[ -n "$ROOT" ] && SKIP+=" apt i2c user systemctl "
NAME=hingemarch
VENV=/opt/hingemarch/venv
CONF=/etc/hingemarch/hingemarch.toml
UNIT=/etc/systemd/system/hingemarch.service
DROPIN=/etc/systemd/system/hingemarch.service.d/mosquitto.conf
BROKER_CONF=/etc/mosquitto/conf.d/hingemarch.conf
BROKER_ACL=/etc/mosquitto/hingemarch.acl
BROKER_PASSWD=/etc/mosquitto/hingemarch.passwd
LINK=/usr/local/bin/hingemarch
CHANGED=""          # what changed in this run: the service is restarted only then

say() { echo "install: $*"; }
die() { echo "install: error: $*" >&2; exit 1; }
skipped() { [[ "$SKIP" == *" $1 "* ]]; }

# place SRC DEST MODE [keep]: copy when DEST is missing or differs; "keep" never replaces a DEST.
place() {
    local src="$1" dest="$ROOT$2" mode="$3" keep="${4:-}"
    if [ -e "$dest" ] && { [ -n "$keep" ] || { cmp -s "$src" "$dest" && [ "$(stat -c %a "$dest")" = "${mode#0}" ]; }; }; then
        if [ -n "$keep" ]; then say "$2: kept (never overwritten)"; else say "$2: unchanged"; fi
        return 1
    fi
    mkdir -p "$(dirname "$dest")"
    install -m "$mode" "$src" "$dest"
    say "$2: installed"
    CHANGED+=" $2"
}

enable_i2c() {
    if skipped i2c; then say "I2C: skipped"; return; fi
    if ! command -v raspi-config >/dev/null; then
        say "I2C: raspi-config not found; enable I2C yourself (dtparam=i2c_arm=on, module i2c-dev)"
    elif [ "$(raspi-config nonint get_i2c)" = 0 ]; then
        say "I2C: already enabled"
    else
        raspi-config nonint do_i2c 0
        say "I2C: enabled (reboot if /dev/i2c-1 is not there yet)"
    fi
}

install_packages() {
    if skipped apt; then say "packages: skipped"; return; fi
    local missing=() p
    for p in mosquitto mosquitto-clients python3-venv; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then say "packages: already installed"; return; fi
    say "packages: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    CHANGED+=" packages"
}

create_user() {
    if skipped user; then say "user: skipped"; return; fi
    getent group i2c >/dev/null || { groupadd --system i2c; say "group i2c: created"; }
    if id "$NAME" >/dev/null 2>&1; then
        if id -nG "$NAME" | grep -qw i2c; then say "user $NAME: exists"
        else usermod -aG i2c "$NAME"; say "user $NAME: added to group i2c"; fi
    else
        useradd --system --user-group --groups i2c --home-dir /var/lib/hingemarch --no-create-home \
            --shell /usr/sbin/nologin --comment "hingemarch rep counter" "$NAME"
        say "user $NAME: created (system user, group i2c)"
    fi
}

# The package's files, hashed: pip reinstalls a folder every time, so run it only when they changed.
source_fingerprint() {
    (cd "$SRC" && find pyproject.toml README.md analysis imu firmware_bridge -type f -not -path '*/__pycache__/*' \
        -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}

install_venv() {
    if skipped venv; then say "venv: skipped"; return; fi
    local venv="$ROOT$VENV" fp
    fp="$(source_fingerprint)"
    [ -x "$venv/bin/python" ] || { python3 -m venv "$venv"; say "$VENV: created"; }
    if [ "$(cat "$venv/.source-sha256" 2>/dev/null)" = "$fp" ]; then
        say "$VENV: package unchanged"
    else
        say "$VENV: installing the package and its dependencies (a few minutes on a Pi)"
        # from a copy: pip builds in the source folder and would leave build/ in the checkout
        local copy; copy="$(mktemp -d)"
        tar -C "$SRC" --exclude=.git --exclude=.venv --exclude=state --exclude=build -cf - . | tar -C "$copy" -xf -
        "$venv/bin/pip" install -q --upgrade "$copy"
        rm -rf "$copy"
        echo "$fp" > "$venv/.source-sha256"
        CHANGED+=" package"
    fi
}

link_command() {
    local link="$ROOT$LINK"
    if [ "$(readlink "$link" 2>/dev/null)" = "$VENV/bin/hingemarch" ]; then say "$LINK: unchanged"; return; fi
    if [ -e "$link" ] || [ -L "$link" ]; then say "$LINK: left alone (not ours)"; return; fi
    mkdir -p "$(dirname "$link")"
    ln -s "$VENV/bin/hingemarch" "$link"
    say "$LINK: linked to $VENV/bin/hingemarch"
}

# The shipped config with the service's broker account in its [mqtt] section, on stdout.
config_with_account() {
    awk -v user="$NAME" -v password="$1" '
        /^\[/ { section = $0 }
        section == "[mqtt]" && /^username *=/ { print "username = \"" user "\""; n++; next }
        section == "[mqtt]" && /^password *=/ { print "password = \"" password "\""; n++; next }
        { print }
        END { exit n != 2 }' "$SRC/config/hingemarch.toml" || die "config/hingemarch.toml: no [mqtt] username and password lines"
}

# A file Mosquitto reads after dropping to its user: owner mosquitto (not under ROOT: no such user there).
give_to_mosquitto() {
    if [ -z "$ROOT" ] && id mosquitto >/dev/null 2>&1; then chown mosquitto: "$1"; fi
}

install_files() {
    local password=""
    # The broker (passwords, an ACL, MQTT on 1883, WebSocket on 9001): a new password file gets the
    # service's account with a random password, written into the config when that is new too.
    if [ -e "$ROOT$BROKER_PASSWD" ]; then
        say "$BROKER_PASSWD: kept (never overwritten)"
    else
        command -v mosquitto_passwd >/dev/null || die "mosquitto_passwd not found: install the mosquitto package"
        password="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
        mkdir -p "$(dirname "$ROOT$BROKER_PASSWD")"
        (umask 077 && mosquitto_passwd -c -b "$ROOT$BROKER_PASSWD" "$NAME" "$password")
        chmod 0640 "$ROOT$BROKER_PASSWD"
        give_to_mosquitto "$ROOT$BROKER_PASSWD"
        say "$BROKER_PASSWD: created with the account $NAME and a random password"
        CHANGED+=" $BROKER_PASSWD"
    fi
    if place "$SRC/config/hingemarch.toml" "$CONF" 0640 keep; then
        if [ -z "$ROOT" ]; then
            chown "root:$NAME" "$CONF"     # readable by the service, which may find a password in it
        fi
        if [ -n "$password" ]; then
            config_with_account "$password" > "$ROOT$CONF"
            say "$CONF: [mqtt] username and password set for the account $NAME"
        fi
    elif [ -n "$password" ]; then
        say "$CONF has no new password: give $NAME one you know (sudo mosquitto_passwd $BROKER_PASSWD" \
            "$NAME) and put it in its [mqtt] username and password"
    fi
    place "$SRC/config/mosquitto/hingemarch.conf" "$BROKER_CONF" 0644 keep || true
    if grep -q '^allow_anonymous true' "$ROOT$BROKER_CONF"; then
        say "$BROKER_CONF: allows anonymous access; docs/install.md says how to switch to passwords"
    fi
    if place "$SRC/config/mosquitto/hingemarch.acl" "$BROKER_ACL" 0640 keep; then
        give_to_mosquitto "$ROOT$BROKER_ACL"
    fi
    place "$SRC/systemd/hingemarch.service" "$UNIT" 0644 || true
    place "$SRC/systemd/hingemarch.service.d/mosquitto.conf" "$DROPIN" 0644 || true
}

start_services() {
    if skipped systemctl; then say "systemctl: skipped"; return; fi
    systemctl daemon-reload
    systemctl enable --quiet mosquitto hingemarch
    if [[ "$CHANGED" == *" /etc/mosquitto/"* ]]; then systemctl restart mosquitto; else systemctl start mosquitto; fi
    if [ -n "$CHANGED" ] && systemctl --quiet is-active hingemarch; then
        systemctl restart hingemarch; say "hingemarch: restarted (changed:$CHANGED)"
    else
        systemctl start hingemarch; say "hingemarch: enabled and running"
    fi
    if ! skipped venv; then
        say "checking (hingemarch doctor as the service user):"
        runuser -u "$NAME" -- "$VENV/bin/hingemarch" doctor --config "$CONF" \
            --state-dir /var/lib/hingemarch || say "doctor found problems: see the fix lines above"
    fi
}

uninstall() {
    local purge="$1"
    if ! skipped systemctl; then systemctl disable --now --quiet hingemarch 2>/dev/null || true; fi
    rm -f "$ROOT$UNIT" "$ROOT$DROPIN"
    rmdir "$(dirname "$ROOT$DROPIN")" 2>/dev/null || true      # unless `systemctl edit` put files there
    if ! skipped systemctl; then systemctl daemon-reload; fi
    rm -rf "$ROOT/opt/hingemarch"
    [ "$(readlink "$ROOT$LINK" 2>/dev/null)" = "$VENV/bin/hingemarch" ] && rm -f "$ROOT$LINK"
    say "removed: the service, /opt/hingemarch"
    if [ -z "$purge" ]; then
        say "kept: /etc/hingemarch (config), /var/lib/hingemarch (sessions, calibration), $BROKER_CONF," \
            "$BROKER_ACL, $BROKER_PASSWD, your drop-ins in $(dirname "$DROPIN"); --uninstall --purge removes them"
        return
    fi
    rm -rf "$ROOT/etc/hingemarch" "$ROOT/var/lib/hingemarch" "$ROOT$BROKER_CONF" "$ROOT$BROKER_ACL" \
        "$ROOT$BROKER_PASSWD" "$(dirname "$ROOT$DROPIN")"
    if ! skipped user && id "$NAME" >/dev/null 2>&1; then userdel "$NAME"; say "user $NAME: removed"; fi
    if ! skipped systemctl; then systemctl try-restart mosquitto; fi
    say "purged: /etc/hingemarch, /var/lib/hingemarch, $BROKER_CONF, $BROKER_ACL, $BROKER_PASSWD," \
        "$(dirname "$DROPIN")" \
        "(Mosquitto itself stays installed)"
}

action=install purge=""
for arg in "$@"; do
    case "$arg" in
        --uninstall) action=uninstall ;;
        --purge) purge=1 ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $arg (see --help)" ;;
    esac
done
[ -n "$purge" ] && [ "$action" != uninstall ] && die "--purge goes with --uninstall"
[ -n "$ROOT" ] || [ "$(id -u)" -eq 0 ] || die "run it as root: sudo $0 $*"
[ -n "$ROOT" ] && say "ROOT=$ROOT: files only; apt-get, raspi-config, useradd and systemctl are skipped"

if [ "$action" = uninstall ]; then uninstall "$purge"; exit 0; fi
enable_i2c
install_packages
create_user
install_venv
link_command
install_files
start_services
if ! grep -q '^phone:' "$ROOT$BROKER_PASSWD"; then
    say "phone: add its broker account with \`sudo mosquitto_passwd $BROKER_PASSWD phone\`, then \`sudo systemctl restart mosquitto\`"
fi
if [ -n "$CHANGED" ]; then say "done; changed:$CHANGED"; else say "done; nothing changed"; fi
