#!/usr/bin/env bash
# HTTP benchmark: wrk against Kiln's /health and, when nginx is installed, against nginx with one
# worker serving a fixed JSON body; prints requests/s, p99 latency and the ratio.
# Usage: Scripts/bench-http.sh [seconds=10] [connections=64] [runs=3]
# Kiln is built in release mode. Both servers run on loopback; wrk uses one thread so that the
# load generator, the server and nothing else share the machine's cores in the same way for both.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"; connections="${2:-64}"; runs="${3:-3}"
command -v wrk >/dev/null || { echo "bench-http: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
swift build -c release --product kiln >&2
work="$(mktemp -d)"
cleanup() { [ -n "${kiln_pid:-}" ] && kill "$kiln_pid" 2>/dev/null; [ -n "${nginx_pid:-}" ] && kill "$nginx_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Runs wrk `runs` times and prints the median requests/s and the median p99 (ms).
measure() {
    local url="$1" rps=() p99=()
    for _ in $(seq "$runs"); do
        out="$(wrk -t1 -c"$connections" -d"${seconds}s" --latency "$url")"
        rps+=("$(echo "$out" | awk '/Requests\/sec/ {print $2}')")
        p99+=("$(echo "$out" | awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}')")
    done
    printf '%s\n' "${rps[@]}" | sort -g | awk '{a[NR]=$1} END {printf "%s ", a[int((NR+1)/2)]}'
    printf '%s\n' "${p99[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

kiln_port="$(free_port)"
.build/release/kiln serve --host 127.0.0.1 --port "$kiln_port" >"$work/kiln.log" 2>&1 &
kiln_pid=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$kiln_port/health" >/dev/null && break; sleep 0.1; done
read -r kiln_rps kiln_p99 <<<"$(measure "http://127.0.0.1:$kiln_port/health")"
echo "kiln  /health: ${kiln_rps} requests/s, p99 ${kiln_p99} ms (median of $runs runs, ${seconds}s, $connections connections)"

if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then
    nginx_port="$(free_port)"
    cat >"$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
    server {
        listen 127.0.0.1:$nginx_port;
        location /health { default_type application/json; return 200 '{"status":"ok"}'; }
    }
}
CONF
    "$(command -v nginx || echo /usr/sbin/nginx)" -c "$work/nginx.conf" -g 'daemon off;' &
    nginx_pid=$!
    for _ in $(seq 50); do curl -fs "http://127.0.0.1:$nginx_port/health" >/dev/null && break; sleep 0.1; done
    read -r nginx_rps nginx_p99 <<<"$(measure "http://127.0.0.1:$nginx_port/health")"
    echo "nginx /health: ${nginx_rps} requests/s, p99 ${nginx_p99} ms (1 worker)"
    python3 -c "print(f'ratio kiln/nginx: {$kiln_rps/$nginx_rps:.2f}')"
fi
