#!/usr/bin/env bash
# Install hingemarch as a systemd service on Raspberry Pi OS, or remove it. Safe to run again: a
# second run changes nothing, and your config is never overwritten. Steps: docs/install.md.
#   sudo systemd/install.sh                       install, or update after a `git pull`
#     --device-id ID       this Pi's device id and broker account (default: the host name); new config only
#     --phone NAME[:DEV]   (or --add-phone) a broker account for a phone or athlete: reads device DEV,
#                          default this Pi's, sends its commands; random password printed once (repeatable)
#     --device ID          a broker account for another device publishing to this broker (repeatable)
#     --home-assistant NAME  a broker account for Home Assistant: reads every device and the discovery,
#                          sends commands, writes its own birth message; random password printed once
#     --tls                also MQTT over TLS on 8883, with a private CA made under /etc/mosquitto/certs/
#     --bind ADDRESS       the broker's listeners on ADDRESS only (e.g. 127.0.0.1); a new broker config only
#   sudo systemd/install.sh --uninstall           remove the service and its venv; keep config and sessions
#   sudo systemd/install.sh --uninstall --purge   also remove config, sessions, the user, the broker config
#                                                 with its ACL, password file and TLS certificates
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
BROKER_TLS_CONF=/etc/mosquitto/conf.d/hingemarch_tls.conf
CERTS=/etc/mosquitto/certs
CA_CRT=$CERTS/hingemarch-ca.crt CA_KEY=$CERTS/hingemarch-ca.key
SERVER_CRT=$CERTS/hingemarch-server.crt SERVER_KEY=$CERTS/hingemarch-server.key
LINK=/usr/local/bin/hingemarch
CHANGED=""          # what changed in this run: the service is restarted only then

say() { echo "install: $*"; }
die() { echo "install: error: $*" >&2; exit 1; }
skipped() { [[ "$SKIP" == *" $1 "* ]]; }
changed() { [[ "$CHANGED " == *" $1 "* ]] || CHANGED+=" $1"; }

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

# The shipped config with this device's id and broker account (ID PASSWORD) in [mqtt], on stdout.
config_with_account() {
    awk -v user="$1" -v password="$2" '
        /^\[/ { section = $0 }
        section == "[mqtt]" && /^username *=/ { print "username = \"" user "\""; n++; next }
        section == "[mqtt]" && /^password *=/ { print "password = \"" password "\""; n++; next }
        section == "[mqtt]" && /^device_id *=/ { print "device_id = \"" user "\""; n++; next }
        { print }
        END { exit n != 3 }' "$SRC/config/hingemarch.toml" ||
        die "config/hingemarch.toml: no [mqtt] username, password and device_id lines"
}

# toml_mqtt FILE KEY: a string value of [mqtt] (plain `key = "value"` lines), empty when absent.
toml_mqtt() {
    [ -f "$1" ] || return 0
    awk -v key="$2" '
        /^\[/ { section = $0 }
        section == "[mqtt]" && $0 ~ "^" key " *= *\"" { sub("^[^\"]*\"", ""); sub("\".*$", ""); print; exit }' "$1"
}

valid_name() { [[ "$1" =~ ^[A-Za-z0-9_.-]+$ ]]; }
random_password() { head -c 18 /dev/urandom | base64 | tr -d '/+='; }
has_account() { [ -f "$ROOT$BROKER_PASSWD" ] && grep -q "^$1:" "$ROOT$BROKER_PASSWD"; }
acl_has_user() { [ -f "$ROOT$BROKER_ACL" ] && grep -qE "^user +$1 *\$" "$ROOT$BROKER_ACL"; }

# add_account NAME PASSWORD: a new entry in the (existing) password file.
add_account() {
    (umask 077 && mosquitto_passwd -b "$ROOT$BROKER_PASSWD" "$1" "$2") >/dev/null
    chmod 0640 "$ROOT$BROKER_PASSWD"
    give_to_mosquitto "$ROOT$BROKER_PASSWD"
    changed "$BROKER_PASSWD"
}

# append_acl LINES...: a block at the end of the ACL, after what is there (nothing of it is changed).
append_acl() {
    { echo; printf '%s\n' "$@"; } >> "$ROOT$BROKER_ACL"
    changed "$BROKER_ACL"
}

acl_device_block() {
    local id="$1" node
    node="$(echo "${PREFIX//\//_}_$id" | tr . _)"
    append_acl "# device $id (systemd/install.sh): its own subtree, its Home Assistant discovery node" \
        "user $id" "topic readwrite $PREFIX/$id/#" "topic readwrite $HA_PREFIX/+/$node/#"
}

acl_phone_block() {
    local name="$1" dev="$2"
    append_acl "# phone $name for device $dev (systemd/install.sh --phone): reads it, sends its commands" \
        "user $name" "topic read $PREFIX/$dev/#" "topic write $PREFIX/$dev/cmd" "topic write $PREFIX/$dev/cmd/#" \
        "topic readwrite metrics/exchange"
}

acl_home_assistant_block() {
    append_acl "# home assistant $1 (systemd/install.sh --home-assistant): every device's tiles, status and" \
        "# discovery ($HA_PREFIX/#), their commands, and its own birth message ($HA_PREFIX/status)" \
        "user $1" "topic read $PREFIX/#" "topic write $PREFIX/+/cmd" "topic write $PREFIX/+/cmd/#" \
        "topic read $HA_PREFIX/#" "topic write $HA_PREFIX/status"
}

# acl_rule REGEX: a topic line of an account other than a Home Assistant one matches REGEX.
acl_rule() {
    [ -f "$ROOT$BROKER_ACL" ] && awk -v re="$1" '
        /^# home assistant / { ha[$4] = 1 }
        /^user / { user = $2 }
        $0 ~ re && !(user in ha) { found = 1 }
        END { exit !found }' "$ROOT$BROKER_ACL"
}

# Accounts asked for with --device, --phone and --home-assistant: made when absent, with a password shown only now.
add_requested_accounts() {
    local spec name dev password
    for name in "${EXTRA_DEVICES[@]}"; do
        if has_account "$name"; then say "broker account $name: exists (kept)"; continue; fi
        password="$(random_password)"
        add_account "$name" "$password"
        acl_has_user "$name" || acl_device_block "$name"
        say "broker account $name (device): created; password (shown only now): $password"
        say "  on that device: [mqtt] device_id = \"$name\", username = \"$name\" and this password"
    done
    for spec in "${PHONES[@]}"; do
        name="${spec%%:*}"; dev="$DEVICE_ID"
        [[ "$spec" == *:* ]] && dev="${spec#*:}"
        if has_account "$name"; then say "broker account $name: exists (kept)"; continue; fi
        password="$(random_password)"
        add_account "$name" "$password"
        acl_has_user "$name" || acl_phone_block "$name" "$dev"
        say "broker account $name (phone for device $dev): created; password (shown only now): $password"
        has_account "$dev" || say "  note: no account $dev on this broker (yet): another device's? add it with --device $dev"
    done
    for name in "${HOME_ASSISTANTS[@]}"; do
        if has_account "$name"; then say "broker account $name: exists (kept)"; continue; fi
        password="$(random_password)"
        add_account "$name" "$password"
        acl_has_user "$name" || acl_home_assistant_block "$name"
        say "broker account $name (Home Assistant): created; password (shown only now): $password"
        say "  in Home Assistant's MQTT integration: this broker, user $name and this password; on each device [mqtt] ha_discovery = true"
    done
}

# --tls: a private CA and a server certificate for this host, each made only when absent.
make_certificates() {
    local certs="$ROOT$CERTS" host san
    if [ -e "$ROOT$CA_CRT" ] || [ -e "$ROOT$SERVER_CRT" ] || [ -e "$ROOT$SERVER_KEY" ]; then
        say "$CERTS: certificates kept (never overwritten)"
        return
    fi
    command -v openssl >/dev/null || die "openssl not found: install the openssl package"
    host="$(hostname)"; host="${host%%.*}"
    san="DNS:$host,DNS:$host.local,DNS:localhost,IP:127.0.0.1"
    [[ "$BIND" =~ ^[0-9.]+$ ]] && [ "$BIND" != 127.0.0.1 ] && san+=",IP:$BIND"
    mkdir -p "$certs"
    local key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes) tmp
    tmp="$(mktemp -d)"
    (umask 077
     openssl req -x509 "${key[@]}" -keyout "$ROOT$CA_KEY" -out "$ROOT$CA_CRT" -days 3650 \
         -subj "/CN=hingemarch CA $host" 2>/dev/null
     openssl req "${key[@]}" -keyout "$ROOT$SERVER_KEY" -out "$tmp/server.csr" -subj "/CN=$host" 2>/dev/null
     echo "subjectAltName=$san" > "$tmp/san.ext"
     openssl x509 -req -in "$tmp/server.csr" -CA "$ROOT$CA_CRT" -CAkey "$ROOT$CA_KEY" -CAcreateserial \
         -CAserial "$tmp/ca.srl" -out "$ROOT$SERVER_CRT" -days 3650 -extfile "$tmp/san.ext" 2>/dev/null) ||
        { rm -rf "$tmp"; die "openssl could not make the certificates in $CERTS"; }
    rm -rf "$tmp"
    chmod 0600 "$ROOT$CA_KEY"; chmod 0644 "$ROOT$CA_CRT" "$ROOT$SERVER_CRT"; chmod 0640 "$ROOT$SERVER_KEY"
    give_to_mosquitto "$ROOT$SERVER_KEY"
    say "$CERTS: made a private CA (hingemarch-ca.crt, give it to clients) and a server certificate for $san"
    CHANGED+=" $CERTS"
}

# A shipped broker config, with its listeners on BIND when one was asked for, on stdout.
broker_conf() {
    if [ -n "$BIND" ]; then sed -E "s/^listener ([0-9]+)\$/listener \1 $BIND/" "$1"; else cat "$1"; fi
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
        password="$(random_password)"
        mkdir -p "$(dirname "$ROOT$BROKER_PASSWD")"
        (umask 077 && mosquitto_passwd -c -b "$ROOT$BROKER_PASSWD" "$DEVICE_ID" "$password")
        chmod 0640 "$ROOT$BROKER_PASSWD"
        give_to_mosquitto "$ROOT$BROKER_PASSWD"
        say "$BROKER_PASSWD: created with this device's account $DEVICE_ID and a random password"
        CHANGED+=" $BROKER_PASSWD"
    fi
    if place "$SRC/config/hingemarch.toml" "$CONF" 0640 keep; then
        if [ -z "$ROOT" ]; then
            chown "root:$NAME" "$CONF"     # readable by the service, which may find a password in it
        fi
        if [ -n "$password" ]; then
            config_with_account "$DEVICE_ID" "$password" > "$ROOT$CONF"
            say "$CONF: [mqtt] device_id, username and password set for the account $DEVICE_ID"
        fi
    elif [ -n "$password" ]; then
        say "$CONF is kept: put this device's account into its [mqtt]: device_id = \"$DEVICE_ID\"," \
            "username = \"$DEVICE_ID\", password = \"$password\" (shown only now)"
    fi
    local tmp; tmp="$(mktemp)"
    broker_conf "$SRC/config/mosquitto/hingemarch.conf" > "$tmp"
    place "$tmp" "$BROKER_CONF" 0644 keep || { [ -n "$BIND" ] && say "--bind $BIND: not applied to the kept" \
        "$BROKER_CONF; edit its listener lines (listener 1883 $BIND)"; }
    if [ -n "$TLS" ]; then
        make_certificates
        broker_conf "$SRC/config/mosquitto/hingemarch_tls.conf" > "$tmp"
        place "$tmp" "$BROKER_TLS_CONF" 0644 keep || true
    fi
    rm -f "$tmp"
    if grep -q '^allow_anonymous true' "$ROOT$BROKER_CONF"; then
        say "$BROKER_CONF: allows anonymous access; docs/install.md says how to switch to passwords"
    fi
    if place "$SRC/config/mosquitto/hingemarch.acl" "$BROKER_ACL" 0640 keep; then
        give_to_mosquitto "$ROOT$BROKER_ACL"
    fi
    if [ -n "$password" ] && ! acl_has_user "$DEVICE_ID"; then acl_device_block "$DEVICE_ID"; fi
    if acl_rule "^topic +[a-z]+ +${PREFIX//./\\.}/(\\+|#)"; then
        say "$BROKER_ACL: an account there may use every device's topics (the old shared ACL);" \
            "docs/install.md says how to switch to one account per device and phone"
    fi
    add_requested_accounts
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
            "$BROKER_ACL, $BROKER_PASSWD, $BROKER_TLS_CONF and $CERTS/hingemarch-*, your drop-ins in $(dirname "$DROPIN"); --uninstall --purge removes them"
        return
    fi
    rm -rf "$ROOT/etc/hingemarch" "$ROOT/var/lib/hingemarch" "$ROOT$BROKER_CONF" "$ROOT$BROKER_ACL" \
        "$ROOT$BROKER_PASSWD" "$ROOT$BROKER_TLS_CONF" "$ROOT$CA_CRT" "$ROOT$CA_KEY" "$ROOT$SERVER_CRT" \
        "$ROOT$SERVER_KEY" "$(dirname "$ROOT$DROPIN")"
    rmdir "$ROOT$CERTS" 2>/dev/null || true
    if ! skipped user && id "$NAME" >/dev/null 2>&1; then userdel "$NAME"; say "user $NAME: removed"; fi
    if ! skipped systemctl; then systemctl try-restart mosquitto; fi
    say "purged: /etc/hingemarch, /var/lib/hingemarch, $BROKER_CONF, $BROKER_ACL, $BROKER_PASSWD," \
        "$BROKER_TLS_CONF, $CERTS/hingemarch-*," \
        "$(dirname "$DROPIN")" \
        "(Mosquitto itself stays installed)"
}

action=install purge="" DEVICE_ID_ARG="" TLS="" BIND="" PHONES=() EXTRA_DEVICES=() HOME_ASSISTANTS=()
need_value() { [ "$2" -ge 2 ] || die "$1 needs a value (see --help)"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --uninstall) action=uninstall ;;
        --purge) purge=1 ;;
        --tls) TLS=1 ;;
        --device-id) need_value "$1" $#; DEVICE_ID_ARG="$2"; shift ;;
        --device) need_value "$1" $#; EXTRA_DEVICES+=("$2"); shift ;;
        --phone|--add-phone) need_value "$1" $#; PHONES+=("$2"); shift ;;
        --home-assistant) need_value "$1" $#; HOME_ASSISTANTS+=("$2"); shift ;;
        --bind) need_value "$1" $#; BIND="$2"; shift ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done
[ -n "$purge" ] && [ "$action" != uninstall ] && die "--purge goes with --uninstall"
if [ -n "$BIND" ] && ! [[ "$BIND" =~ ^[0-9A-Za-z.:_-]+$ ]]; then die "--bind $BIND: not an address or host name"; fi
[ -n "$ROOT" ] || [ "$(id -u)" -eq 0 ] || die "run it as root: sudo $0 $*"
[ -n "$ROOT" ] && say "ROOT=$ROOT: files only; apt-get, raspi-config, useradd and systemctl are skipped"

if [ "$action" = uninstall ]; then uninstall "$purge"; exit 0; fi

# This device's id (= its broker account): the existing config's, else --device-id, else the host name.
DEVICE_ID="$(toml_mqtt "$ROOT$CONF" device_id)"
if [ -n "$DEVICE_ID" ] && [ -n "$DEVICE_ID_ARG" ] && [ "$DEVICE_ID" != "$DEVICE_ID_ARG" ]; then
    die "--device-id $DEVICE_ID_ARG: $CONF already sets device_id = \"$DEVICE_ID\" (change it there)"
fi
DEVICE_ID="${DEVICE_ID:-$DEVICE_ID_ARG}"
if [ -z "$DEVICE_ID" ]; then
    DEVICE_ID="$(hostname | cut -d. -f1 | tr -cs 'A-Za-z0-9_-' '-' | sed 's/^-*//; s/-*$//' | tr A-Z a-z)"
    DEVICE_ID="${DEVICE_ID:-hingemarch}"
fi
valid_name "$DEVICE_ID" || die "device id $DEVICE_ID: letters, digits, _ . - only"
PREFIX="$(toml_mqtt "$ROOT$CONF" topic_prefix)"; PREFIX="${PREFIX:-hingemarch}"
HA_PREFIX="$(toml_mqtt "$ROOT$CONF" ha_prefix)"; HA_PREFIX="${HA_PREFIX:-homeassistant}"
for spec in "${EXTRA_DEVICES[@]}" "${PHONES[@]}" "${HOME_ASSISTANTS[@]}"; do
    valid_name "${spec%%:*}" || die "account ${spec%%:*}: letters, digits, _ . - only"
    [[ "$spec" != *:* ]] || valid_name "${spec#*:}" || die "--phone $spec: device ${spec#*:}: letters, digits, _ . - only"
done
for spec in "${PHONES[@]/#/--phone }" "${HOME_ASSISTANTS[@]/#/--home-assistant }"; do
    name="${spec#* }"; name="${name%%:*}"
    if [ "$name" = "$DEVICE_ID" ] || [[ " ${EXTRA_DEVICES[*]} " == *" $name "* ]]; then
        die "${spec%% *} $name: that is a device's account name; give it its own"
    fi
done
enable_i2c
install_packages
create_user
install_venv
link_command
install_files
start_services
if ! acl_rule '^topic +(write|readwrite) +[^ ]*/cmd'; then
    say "phone: add its broker account with \`sudo systemd/install.sh --phone NAME\` (it reads $DEVICE_ID, sends its commands)"
fi
if [ -n "$CHANGED" ]; then say "done; changed:$CHANGED"; else say "done; nothing changed"; fi
