#!/usr/bin/env bash
# bench/http: requests/s and p99 latency of keel's HTTP server beside nginx (1 worker), same body, same run.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
runs=${RUNS:-3}
secs=${SECS:-10}
conns=${CONNS:-64}

bash scripts/deps.sh
[ -f build/release/build.ninja ] || meson setup build/release --buildtype=release >/dev/null
ninja -C build/release bench/keel-http-bench >/dev/null

work=$(mktemp -d "$top/build/bench-http.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
	for _ in $(seq 100); do
		curl -fs -o /dev/null "http://127.0.0.1:$1/" && return 0
		sleep 0.05
	done
	echo "bench: server on port $1 did not come up" >&2
	exit 1
}

# The same 200-byte body from both servers.
body=$(printf 'k%.0s' $(seq 199))
kport=$(free_port)
nport=$(free_port)
cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_requests 1000000;
	server {
		listen 127.0.0.1:$nport;
		location = / { default_type text/plain; return 200 "$body\n"; }
	}
}
NGINX

# Server on CPU 1, wrk on CPU 0.
taskset -c 1 build/release/bench/keel-http-bench --port="$kport" 2>"$work/keel.log" &
pids+=($!)
taskset -c 1 /usr/sbin/nginx -c "$work/nginx.conf" -e "$work/nginx-error.log" &
pids+=($!)
wait_port "$kport"
wait_port "$nport"
klen=$(curl -s "http://127.0.0.1:$kport/" | wc -c)
nlen=$(curl -s "http://127.0.0.1:$nport/" | wc -c)
[ "$klen" = 200 ] && [ "$nlen" = 200 ] || { echo "bench: bodies differ ($klen, $nlen bytes)" >&2; exit 1; }

measure() { # port -> "rps p99_us"
	taskset -c 0 wrk -t1 -c"$conns" -d"${secs}s" --latency "http://127.0.0.1:$1/" |
		awk '/Requests\/sec/ {rps=$2} /^ +99%/ {v=$2; u=v; sub(/[a-z]+$/,"",v); sub(/^[0-9.]+/,"",u);
		     m=(u=="us")?1:(u=="ms")?1000:(u=="s")?1000000:1; p99=v*m} END {printf "%d %d\n", rps, p99}'
}

krps=() kp99=() nrps=() np99=()
for i in $(seq "$runs"); do
	read -r r p < <(measure "$kport"); krps+=("$r"); kp99+=("$p")
	read -r r p < <(measure "$nport"); nrps+=("$r"); np99+=("$p")
	echo "run $i: keel ${krps[-1]} req/s p99 ${kp99[-1]} us | nginx ${nrps[-1]} req/s p99 ${np99[-1]} us"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
km=$(median "${krps[@]}") kpm=$(median "${kp99[@]}") nm=$(median "${nrps[@]}") npm=$(median "${np99[@]}")
echo
echo "bench/http: 200-byte body, keep-alive, wrk -t1 -c$conns -d${secs}s, server pinned to CPU 1, $runs runs (medians)"
printf '  %-8s %12s %12s\n' "" "req/s" "p99 (us)"
printf '  %-8s %12s %12s\n' keel "$km" "$kpm"
printf '  %-8s %12s %12s\n' nginx "$nm" "$npm"
awk -v k="$km" -v n="$nm" -v kp="$kpm" -v np="$npm" 'BEGIN {printf "  keel/nginx throughput ratio: %.2f   p99 ratio: %.2f\n", k/n, kp/np}'
