# shellcheck shell=bash
# Shared Debian/apt helpers for the server scripts (sourced, not run).
# scripts/ejabberd uses them; they mirror the ones in scripts/prosody so that
# both install from the same backports entry in the same way.
# Callers define log() and die().

# Version of an installed package, or nothing.
installed_version() {
    local v
    v="$(dpkg-query -W -f='${db:Status-Abbrev}|${Version}' "$1" 2>/dev/null || true)"
    case "$v" in ii*) printf '%s' "${v#*|}" ;; esac
}

# The mirror the machine already uses for Debian's main suite $1, so the
# backports entry goes through the same (possibly local or proxied) host.
debian_mirror() {
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        uri="$(awk -v rel="$1" '
            BEGIN { RS=""; FS="\n" }
            {
                uris=""; ok=0
                for (i = 1; i <= NF; i++) {
                    line = $i
                    if (line ~ /^[ \t]*#/) continue
                    if (line ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", line); uris = line }
                    if (line ~ /^Suites:/) {
                        sub(/^Suites:[ \t]*/, "", line)
                        n = split(line, s, /[ \t]+/)
                        for (j = 1; j <= n; j++) if (s[j] == rel) ok = 1
                    }
                }
                if (ok && uris != "") { split(uris, u, /[ \t]+/); print u[1]; exit }
            }' "$f")"
        if [ -n "$uri" ]; then printf '%s' "$uri"; return 0; fi
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        uri="$(awk -v rel="$1" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while ($i !~ /\]$/ && i < NF) i++; i++ }
                if ($(i + 1) == rel) { print $i; exit }
            }' "$f")"
        if [ -n "$uri" ]; then printf '%s' "$uri"; return 0; fi
    done
    return 1
}

# Makes sure the backports suite is an apt source (the same file
# scripts/prosody writes) and prints the suite's name.
ensure_backports() {
    local codename mirror
    # shellcheck source=/dev/null
    codename="$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")"
    [ -n "$codename" ] || die "cannot read VERSION_CODENAME from /etc/os-release"
    mirror="$(debian_mirror "$codename")" ||
        die "no Debian '$codename' entry found in /etc/apt/sources.list{,.d}"
    local suite="${codename}-backports"
    local src=/etc/apt/sources.list.d/jabberkit-backports.sources
    local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    {
        printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\n' "$mirror" "$suite"
        if [ -r "$keyring" ]; then printf 'Signed-By: %s\n' "$keyring"; fi
    } >"$src.tmp"
    if cmp -s "$src.tmp" "$src"; then
        rm -f -- "$src.tmp"
    else
        mv -f -- "$src.tmp" "$src"
        log "wrote $src (mirror $mirror)"
    fi
    printf '%s' "$suite"
}

readonly POLICY_RC=/usr/sbin/policy-rc.d
POLICY_SAVED=""

# policy-rc.d exiting 101 tells invoke-rc.d not to start services, so a
# package's own server never starts (nor takes port 5222) while installing.
block_service_start() {
    if [ -e "$POLICY_RC" ]; then
        POLICY_SAVED="$POLICY_RC.jabberkit-saved"
        cp -p -- "$POLICY_RC" "$POLICY_SAVED"
    fi
    printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
    chmod 755 "$POLICY_RC"
}

restore_service_start() {
    if [ -n "$POLICY_SAVED" ]; then
        mv -f -- "$POLICY_SAVED" "$POLICY_RC"
    else
        rm -f -- "$POLICY_RC"
    fi
}

# Stops the system service $1 if an init system started it anyway, and
# keeps it from starting at boot: the tests start their own servers.
disable_service() {
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        systemctl disable --now "$1" >&2 || true
    elif [ -x "/etc/init.d/$1" ]; then
        "/etc/init.d/$1" stop >&2 2>&1 || true
        if command -v update-rc.d >/dev/null; then
            update-rc.d "$1" disable >&2 2>&1 || true
        fi
    fi
}
