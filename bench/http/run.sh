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
kpid=${pids[0]}
npid=$(ps -o pid= --ppid "${pids[1]}" | head -1 | tr -d ' ') # nginx's one worker
klen=$(curl -s "http://127.0.0.1:$kport/" | wc -c)
nlen=$(curl -s "http://127.0.0.1:$nport/" | wc -c)
[ "$klen" = 200 ] && [ "$nlen" = 200 ] || { echo "bench: bodies differ ($klen, $nlen bytes)" >&2; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
measure() { # port server_pid -> "rps p99_us cpu_us_per_request"
	local before after
	before=$(cpu_ticks "$2")
	taskset -c 0 wrk -t1 -c"$conns" -d"${secs}s" --latency "http://127.0.0.1:$1/" >"$work/wrk.out"
	after=$(cpu_ticks "$2")
	awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
		/requests in/ {n=$1} /Requests\/sec/ {rps=$2}
		/^ +99%/ {v=$2; u=v; sub(/[a-z]+$/,"",v); sub(/^[0-9.]+/,"",u);
		          m=(u=="us")?1:(u=="ms")?1000:(u=="s")?1000000:1; p99=v*m}
		END {printf "%d %d %.2f\n", rps, p99, ticks / hz * 1e6 / n}' "$work/wrk.out"
}

krps=() kp99=() kcpu=() nrps=() np99=() ncpu=()
for i in $(seq "$runs"); do
	read -r r p c < <(measure "$kport" "$kpid"); krps+=("$r"); kp99+=("$p"); kcpu+=("$c")
	read -r r p c < <(measure "$nport" "$npid"); nrps+=("$r"); np99+=("$p"); ncpu+=("$c")
	echo "run $i: keel ${krps[-1]} req/s p99 ${kp99[-1]} us ${kcpu[-1]} cpu-us/req |" \
		"nginx ${nrps[-1]} req/s p99 ${np99[-1]} us ${ncpu[-1]} cpu-us/req"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
km=$(median "${krps[@]}") kpm=$(median "${kp99[@]}") kcm=$(median "${kcpu[@]}")
nm=$(median "${nrps[@]}") npm=$(median "${np99[@]}") ncm=$(median "${ncpu[@]}")
echo
echo "bench/http: 200-byte body, keep-alive, wrk -t1 -c$conns -d${secs}s, server pinned to CPU 1, $runs runs (medians)"
printf '  %-8s %12s %12s %16s\n' "" "req/s" "p99 (us)" "server cpu-us/req"
printf '  %-8s %12s %12s %16s\n' keel "$km" "$kpm" "$kcm"
printf '  %-8s %12s %12s %16s\n' nginx "$nm" "$npm" "$ncm"
awk -v k="$km" -v n="$nm" -v kp="$kpm" -v np="$npm" -v kc="$kcm" -v nc="$ncm" 'BEGIN {
	printf "  keel/nginx: throughput %.2f, p99 %.2f, CPU per request %.2f (lower is better)\n", k/n, kp/np, kc/nc}'
echo "  (CPU per request is the steadier figure on a busy machine: throughput moves with other load.)"
