# bench/replog/lib.sh: helpers of run.sh and trace.sh (sourced, not run).

# Sets port[] to three ports the kernel reports free right now (not a random guess that may be
# taken) and peers to their host:port list.
pick_ports() {
	read -r -a port < <(python3 -c 'import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
	peers=127.0.0.1:${port[0]},127.0.0.1:${port[1]},127.0.0.1:${port[2]}
}

# start_replicas KEEL_LOG LOG_PREFIX DIR0 DIR1 DIR2: the three replicas of $peers in the background
# (their PIDs appended to pids[], stderr to LOG_PREFIX<i>); returns once each answers a read.
start_replicas() {
	local klog=$1 logs=$2 dirs=("$3" "$4" "$5") i
	for i in 0 1 2; do
		"$klog" replica --path="${dirs[$i]}" --peers="$peers" --self=$i 2>"$logs$i" &
		pids+=($!)
	done
	for i in 0 1 2; do
		for _ in $(seq 100); do
			curl -sf -m 2 "http://127.0.0.1:${port[$i]}/log/read?from=0&to=0" >/dev/null && break
			sleep 0.1
		done
	done
}
