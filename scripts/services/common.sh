#!/usr/bin/env bash
# Shared by the test service scripts: free loopback ports, PID bookkeeping, owner watchdog, and the
# command-line driver (start, stop, kill, pause, resume, connstr, wait).
#
# Sourced by zookeeper.sh and etcd.sh. Every process these scripts start is recorded in
# DIR/member<i>/pid and only ever signalled by that PID, after checking that its command line
# still names DIR (so a recycled PID is never hit).

# Prints n free TCP ports on 127.0.0.1, one per line (all held open together while choosing).
svc_free_ports() {
	python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
for s in socks:
    s.close()
EOF
}

# True when PID $1 is alive and its command line mentions directory $2.
svc_pid_is_ours() {
	local pid=$1 dir=$2
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir"
}

# PID recorded for member $2 of $1, or nothing.
svc_member_pid() {
	local f="$1/member$2/pid"
	[ -f "$f" ] && cat "$f"
}

# Sends signal $3 to member $2 of $1 if it is still ours.
svc_signal_member() {
	local dir=$1 i=$2 sig=$3 pid
	pid=$(svc_member_pid "$dir" "$i" || true)
	if svc_pid_is_ours "$pid" "$dir"; then
		kill "-$sig" "$pid" 2>/dev/null || true
	fi
}

# Kills member $2 of $1 (SIGKILL after a SIGCONT, so a paused one dies too) and waits for it.
svc_stop_member() {
	local dir=$1 i=$2 pid n
	pid=$(svc_member_pid "$dir" "$i" || true)
	if svc_pid_is_ours "$pid" "$dir"; then
		kill -KILL "$pid" 2>/dev/null || true
		kill -CONT "$pid" 2>/dev/null || true
		for n in $(seq 1 100); do
			svc_pid_is_ours "$pid" "$dir" || break
			# A zombie of ours (the script's own child) still shows a cmdline only until reaped.
			if [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = "Z" ]; then
				break
			fi
			sleep 0.05
		done
	fi
	rm -f "$dir/member$i/pid"
}

# Starts a watchdog that kills the members of $1 when process $KEEL_SERVICE_OWNER exits (a test
# that crashed still leaves nothing running). One per directory; `stop` ends it.
svc_start_watchdog() {
	local dir=$1 owner=${KEEL_SERVICE_OWNER:-}
	[ -n "$owner" ] || return 0
	if [ -f "$dir/watchdog.pid" ] && svc_pid_is_ours "$(cat "$dir/watchdog.pid")" "$dir"; then
		return 0
	fi
	setsid bash -c '
		dir=$1; owner=$2
		while kill -0 "$owner" 2>/dev/null; do sleep 0.5; done
		for f in "$dir"/member*/pid; do
			[ -f "$f" ] || continue
			pid=$(cat "$f")
			if [ -r "/proc/$pid/cmdline" ] && tr "\0" " " <"/proc/$pid/cmdline" | grep -qF -- "$dir"; then
				kill -KILL "$pid" 2>/dev/null
				kill -CONT "$pid" 2>/dev/null
			fi
			rm -f "$f"
		done
	' keel-service-watchdog "$dir" "$owner" </dev/null >/dev/null 2>&1 &
	echo $! >"$dir/watchdog.pid"
}

svc_stop_watchdog() {
	local dir=$1 pid
	[ -f "$dir/watchdog.pid" ] || return 0
	pid=$(cat "$dir/watchdog.pid")
	if svc_pid_is_ours "$pid" "$dir"; then
		kill -TERM "$pid" 2>/dev/null || true
	fi
	rm -f "$dir/watchdog.pid"
}

# Waits up to $2 seconds for command "$3..." to succeed; returns 1 on timeout.
svc_wait_for() {
	local secs=$1
	shift
	local deadline=$((SECONDS + secs))
	while ! "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			return 1
		fi
		sleep 0.1
	done
}

# --- The command-line driver of the service scripts ---
#
# A service script sets SVC_NAME (its name, for messages) and SVC_READY (what being ready is
# called: "healthy", "serving"), defines these hooks, then runs `svc_main "$@"`:
#   svc_require         exits 1 with a hint when the service is not installed
#   svc_configure N     chooses free ports and writes the configuration of N members under $dir
#   svc_client_port I   prints member I's client port
#   svc_launch I        starts member I in the background (its PID, $!, is recorded)
#   svc_ready I         true when member I serves
# $dir, the data directory made absolute, is set before any hook runs.

# Prints the usage at the top of the script and exits 2.
svc_usage() {
	sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

svc_count() {
	cat "$dir/count"
}

# Prints the client endpoints: 127.0.0.1:p1,127.0.0.1:p2,...
svc_connstr() {
	local n i out=""
	n=$(svc_count)
	for i in $(seq 1 "$n"); do
		out="$out${out:+,}127.0.0.1:$(svc_client_port "$i")"
	done
	echo "$out"
}

# Starts member $1 unless it runs already (a paused one is resumed).
svc_start_member() {
	local i=$1 pid
	pid=$(svc_member_pid "$dir" "$i" || true)
	if svc_pid_is_ours "$pid" "$dir"; then
		kill -CONT "$pid" 2>/dev/null || true # running, or paused: make it run
		return 0
	fi
	svc_launch "$i"
	echo $! >"$dir/member$i/pid"
}

# Waits up to $1 seconds (default 60) until every running member is ready.
svc_wait() {
	local secs=${1:-60} n i pid
	n=$(svc_count)
	for i in $(seq 1 "$n"); do
		pid=$(svc_member_pid "$dir" "$i" || true)
		svc_pid_is_ours "$pid" "$dir" || continue
		if ! svc_wait_for "$secs" svc_ready "$i"; then
			echo "$SVC_NAME: member $i (port $(svc_client_port "$i")) not $SVC_READY after ${secs}s; see $dir/member$i/out.log" >&2
			return 1
		fi
	done
}

# Sends signal $1 to member $2, or to every member when $2 is empty.
svc_signal_all() {
	local sig=$1 only=${2:-} i
	if [ -n "$only" ]; then
		svc_signal_member "$dir" "$only" "$sig"
		return
	fi
	for i in $(seq 1 "$(svc_count)"); do
		svc_signal_member "$dir" "$i" "$sig"
	done
}

# The commands: start DIR [N], stop DIR, kill DIR I, pause|resume DIR [I], connstr DIR, wait DIR [SECS].
svc_main() {
	local cmd n i
	[ $# -ge 2 ] || svc_usage
	cmd=$1
	dir=$2
	case "$dir" in
	/*) ;;
	*) dir="$(pwd)/$dir" ;;
	esac
	case "$cmd" in
	start)
		svc_require
		if [ ! -f "$dir/count" ]; then
			n=${3:-1}
			mkdir -p "$dir"
			svc_configure "$n"
			echo "$n" >"$dir/count"
		fi
		svc_start_watchdog "$dir"
		for i in $(seq 1 "$(svc_count)"); do
			svc_start_member "$i"
		done
		svc_wait 60
		svc_connstr
		;;
	stop)
		if [ -f "$dir/count" ]; then
			for i in $(seq 1 "$(svc_count)"); do
				svc_stop_member "$dir" "$i"
			done
		fi
		svc_stop_watchdog "$dir"
		;;
	kill)
		[ $# -ge 3 ] || svc_usage
		svc_stop_member "$dir" "$3"
		;;
	pause) svc_signal_all STOP "${3:-}" ;;
	resume) svc_signal_all CONT "${3:-}" ;;
	connstr) svc_connstr ;;
	wait) svc_wait "${3:-60}" ;;
	*) svc_usage ;;
	esac
}
