# shellcheck shell=bash
# Shared process and port helpers for the test server scripts (sourced).
# The same logic as in scripts/prosody; callers define log() and die().

# Is anything bound to local TCP port $1 (any state, v4 or v6)?
port_in_use() {
    local hex
    hex="$(printf '%04X' "$1")"
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
        awk -v h="$hex" 'NR > 1 { split($2, a, ":"); if (a[2] == h) { f = 1; exit } } END { exit !f }'
}

# A free port below the kernel's ephemeral range, so outgoing connections
# (including the tests' own) never take it between picking and binding.
# Ports given as further arguments are not picked.
pick_port() {
    local lo hi eph_lo port tries=0
    eph_lo="$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)"
    if [ "$eph_lo" -gt 12000 ]; then lo=10000; hi=$((eph_lo - 1)); else lo=61000; hi=65000; fi
    while :; do
        port=$(( lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1) ))
        case " $* " in *" $port "*) continue ;; esac
        if ! port_in_use "$port"; then
            printf '%s' "$port"
            return 0
        fi
        tries=$((tries + 1))
        [ "$tries" -lt 200 ] || die "no free port found in $lo-$hi"
    done
}

# Does process $2 hold a socket listening on 127.0.0.1:$1?
pid_listens_on() {
    local port="$1" pid="$2" hex inodes inode fd
    hex="$(printf '%04X' "$port")"
    inodes="$(awk -v h="$hex" 'NR > 1 && $4 == "0A" { split($2, a, ":"); if (a[2] == h) print $10 }' /proc/net/tcp 2>/dev/null)"
    [ -n "$inodes" ] || return 1
    for fd in /proc/"$pid"/fd/*; do
        inode="$(readlink "$fd" 2>/dev/null)" || continue
        case "$inode" in
            socket:\[*\])
                inode="${inode#socket:[}"; inode="${inode%]}"
                if printf '%s\n' "$inodes" | grep -qx -- "$inode"; then return 0; fi
                ;;
        esac
    done
    return 1
}

# Is $1 a live (not zombie) process?
alive() {
    local state
    [ -r "/proc/$1/stat" ] || return 1
    state="$(sed -e 's/^.*) //' -e 's/ .*//' "/proc/$1/stat" 2>/dev/null)" || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# Does process $1's command line contain the string $2?
cmdline_has() {
    [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$2"
}

# SIGTERM process $1, SIGKILL after 5 s; reaps it if it is our child.
terminate() {
    local pid="$1"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        log "process $pid ignored SIGTERM for 5 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 1 20); do
            alive "$pid" || break
            sleep 0.1
        done
    fi
    wait "$pid" 2>/dev/null || true
}

# Detached watcher: when process $3 (e.g. a test binary) goes away without
# stopping the server $2 (killed, aborted), stop the server too. $4 is a
# string of the server's command line (guards against a recycled pid), $1
# the file to store the watcher's pid in; $5 names the watcher.
watch_owner() {
    local pidfile="$1" server="$2" owner="$3" marker="$4" name="$5"
    # shellcheck disable=SC2016 # the script expands its own arguments
    setsid bash -c '
        alive() { local s; s="$(sed -e "s/^.*) //" -e "s/ .*//" "/proc/$1/stat" 2>/dev/null)" && [ -n "$s" ] && [ "$s" != Z ]; }
        server="$1"; owner="$2"; marker="$3"
        while alive "$server" && alive "$owner"; do sleep 1; done
        if alive "$server" && tr "\0" " " <"/proc/$server/cmdline" | grep -qF -- "$marker"; then
            kill -TERM "$server"
            for _ in 1 2 3 4 5 6 7 8 9 10; do alive "$server" || exit 0; sleep 0.5; done
            kill -KILL "$server"
        fi
    ' "$name" "$server" "$owner" "$marker" </dev/null >/dev/null 2>&1 &
    printf '%s\n' "$!" >"$pidfile"
}

# Ends the watcher whose pid is in file $1 (if it is one named $2).
stop_watcher() {
    local pidfile="$1" name="$2" wpid
    [ -r "$pidfile" ] || return 0
    wpid="$(tr -dc '0-9' <"$pidfile")"
    rm -f -- "$pidfile"
    [ -n "$wpid" ] || return 0
    if cmdline_has "$wpid" "$name"; then
        kill -TERM "$wpid" 2>/dev/null || true
    fi
}
