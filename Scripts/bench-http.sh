#!/usr/bin/env bash
# HTTP benchmark: wrk against Kiln's /health and, when nginx is installed, against nginx with one
# worker serving a fixed JSON body, in the same run; prints requests/s, p99 latency, the servers'
# CPU time per request and the ratio of medians.
#
# Usage: Scripts/bench-http.sh [seconds=10] [connections=64] [runs=5]
# Environment:
#   BENCH_IO_QUEUES=N   Kiln's event loops (default: Kiln's own default, one per core)
#   BENCH_EVENT_MECHANISM=dispatch|epoll
#                       Kiln's server.event_mechanism (default: Kiln's own default, dispatch)
#   BENCH_ACCESS_LOG=1  both servers write an access log line per request to a file
#                       (default: both off, as nginx is usually benchmarked)
#   BENCH_NO_BUILD=1    use the existing .build/release/kiln
#   BENCH_KILN=path     benchmark another kiln binary (an older build, say); implies BENCH_NO_BUILD
#   BENCH_CALLGRIND=1   instead of wrk and nginx: run Kiln under valgrind's callgrind, send 2 000
#                       warm-up and then 10 000 keep-alive /health requests over 8 connections, and
#                       print the instructions per request (reproducible on a loaded machine)
#   BENCH_CALLGRIND_OUT=path  with BENCH_CALLGRIND: also keep callgrind's output file there, for
#                       callgrind_annotate
#
# Kiln is built in release mode. Both servers run on loopback and wrk uses one thread. The runs
# alternate (Kiln, nginx, Kiln, nginx, ...) so that load from other processes on a shared machine
# falls on both alike; compare the ratio, not the absolute figures, and run it several times.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"; connections="${2:-64}"; runs="${3:-5}"
command -v wrk >/dev/null || { echo "bench-http: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
[ -n "${BENCH_NO_BUILD:-}${BENCH_KILN:-}" ] || swift build -c release --product kiln >&2
kiln_binary="${BENCH_KILN:-$PWD/.build/release/kiln}"
work="$(mktemp -d)"
kiln_pid=""; nginx_pid=""
cleanup() {
    [ -n "$kiln_pid" ] && kill "$kiln_pid" 2>/dev/null
    [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 100); do curl -fs "$1" >/dev/null && return 0; sleep 0.1; done; echo "bench-http: $1 never answered" >&2; exit 1; }
# User and system CPU ticks of a process and its children.
cpu_ticks() {
    local user=0 system=0 u s
    for p in "$1" $(pgrep -P "$1" || true); do
        read -r u s < <(awk '{print $14, $15}' "/proc/$p/stat")
        user=$((user + u)); system=$((system + s))
    done
    echo "$user $system"
}

# One wrk run against `url` served by `pid`: prints requests/s, p99 in ms, and the server's user
# and system CPU microseconds per request.
measure_once() {
    local url="$1" pid="$2" out u0 s0 u1 s1
    read -r u0 s0 < <(cpu_ticks "$pid")
    out="$(wrk -t1 -c"$connections" -d"${seconds}s" --latency "$url")"
    read -r u1 s1 < <(cpu_ticks "$pid")
    python3 - "$out" "$u0" "$s0" "$u1" "$s1" "$(getconf CLK_TCK)" <<'PY'
import re, sys
out, u0, s0, u1, s1, tick = sys.argv[1], *map(float, sys.argv[2:])
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
total = int(re.search(r"(\d+) requests in", out).group(1))
value, unit = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
p99 = float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
per = lambda a, b: (b - a) / tick / max(total, 1) * 1e6
print(f"{rps:.0f} {p99:.2f} {per(u0, u1):.1f} {per(s0, s1):.1f}")
PY
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Instructions per request under callgrind. valgrind cannot read the Swift binary's DWARF, so it
# runs a copy without debug information (the symbol table stays). The Dispatch workers' total
# covers the event loops (libdispatch included) and excludes unrelated threads such as the model
# loader; `handleReadable` is the request path proper.
if [ -n "${BENCH_CALLGRIND:-}" ]; then
    command -v valgrind >/dev/null || { echo "bench-http: valgrind is not installed" >&2; exit 1; }
    objcopy --strip-debug "$kiln_binary" "$work/kiln"
    port="$(free_port)"
    KILN_ACCESS_LOG=false valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
        "$work/kiln" serve --host 127.0.0.1 --port "$port" >"$work/kiln.out" 2>"$work/kiln.log" &
    kiln_pid=$!
    for _ in $(seq 600); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
    # /health answers while the model still loads; wait for it, so that loading does not run
    # inside the measured window (it stays out of the Dispatch workers' counts either way).
    for _ in $(seq 1500); do curl -fs "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.2; done
    requests() {
        python3 - "$port" "$1" <<'PY'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
request = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
pending = [b""] * len(sockets)
def response(i):  # one complete response on connection i
    while True:
        end = pending[i].find(b"\r\n\r\n")
        if end >= 0:
            length = next((int(line.split(b":")[1]) for line in pending[i][:end].split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            if len(pending[i]) >= end + 4 + length:
                assert pending[i].startswith(b"HTTP/1.1 200"), pending[i][:40]
                pending[i] = pending[i][end + 4 + length:]
                return
        data = sockets[i].recv(65536)
        if not data: sys.exit("bench-http: connection closed")
        pending[i] += data
done = 0
while done < n:
    batch = min(len(sockets), n - done)
    for i in range(batch): sockets[i].sendall(request)
    for i in range(batch): response(i)
    done += batch
PY
    }
    requests 2000
    callgrind_control -z "$kiln_pid" >/dev/null 2>&1
    requests 10000
    callgrind_control -d "$kiln_pid" >/dev/null 2>&1
    kill "$kiln_pid"; wait "$kiln_pid" 2>/dev/null || true; kiln_pid=""
    [ -n "${BENCH_CALLGRIND_OUT:-}" ] && cp "$work"/cg.out.1 "$BENCH_CALLGRIND_OUT"
    callgrind_annotate --inclusive=yes "$work"/cg.out.1 2>/dev/null | { swift demangle --simplified 2>/dev/null || cat; } |
        awk '/PROGRAM TOTALS|:_dispatch_worker_thread |:HTTPConnection.handleReadable\(\) / {
            gsub(",", "", $1); name = $0; sub(/^.*\?\?\?:/, "", name); sub(/ \[.*$/, "", name)
            if (/PROGRAM TOTALS/) name = "whole process (other threads, model loading, included)"
            printf "%8.0f instructions per request: %s\n", $1 / 10000, name }'
    exit 0
fi

kiln_port="$(free_port)"
kiln_env=(KILN_ACCESS_LOG=false)
[ -n "${BENCH_ACCESS_LOG:-}" ] && kiln_env=(KILN_ACCESS_LOG=true)
[ -n "${BENCH_IO_QUEUES:-}" ] && kiln_env+=(KILN_IO_QUEUES="$BENCH_IO_QUEUES")
[ -n "${BENCH_EVENT_MECHANISM:-}" ] && kiln_env+=(KILN_EVENT_MECHANISM="$BENCH_EVENT_MECHANISM")
env "${kiln_env[@]}" "$kiln_binary" serve --host 127.0.0.1 --port "$kiln_port" >"$work/kiln.out" 2>"$work/kiln.log" &
kiln_pid=$!
wait_for "http://127.0.0.1:$kiln_port/health"

nginx_binary="$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)"
if [ -n "$nginx_binary" ]; then
    nginx_port="$(free_port)"
    access_log="access_log off;"
    [ -n "${BENCH_ACCESS_LOG:-}" ] && access_log="access_log $work/nginx-access.log;"
    cat >"$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
    $access_log
    client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
    server {
        listen 127.0.0.1:$nginx_port;
        location /health { default_type application/json; return 200 '{"status":"ok"}'; }
    }
}
CONF
    "$nginx_binary" -c "$work/nginx.conf" -g 'daemon off;' &
    nginx_pid=$!
    wait_for "http://127.0.0.1:$nginx_port/health"
fi

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; wrk -t1 -c$connections -d${seconds}s; $runs runs each, alternating"
echo "kiln: ${kiln_env[*]}; nginx: 1 worker, $( [ -n "${BENCH_ACCESS_LOG:-}" ] && echo "access log to a file" || echo "access_log off")"
printf '%-6s %-4s %12s %10s %14s %14s\n' server run "requests/s" "p99 ms" "user µs/req" "sys µs/req"
for run in $(seq "$runs"); do
    read -r rps p99 user system < <(measure_once "http://127.0.0.1:$kiln_port/health" "$kiln_pid")
    printf '%-6s %-4s %12s %10s %14s %14s\n' kiln "$run" "$rps" "$p99" "$user" "$system"
    echo "$rps $p99 $user $system" >>"$work/kiln.runs"
    if [ -n "$nginx_pid" ]; then
        read -r rps p99 user system < <(measure_once "http://127.0.0.1:$nginx_port/health" "$nginx_pid")
        printf '%-6s %-4s %12s %10s %14s %14s\n' nginx "$run" "$rps" "$p99" "$user" "$system"
        echo "$rps $p99 $user $system" >>"$work/nginx.runs"
        echo "$(awk -v k="$(tail -1 "$work/kiln.runs" | cut -d' ' -f1)" -v n="$rps" 'BEGIN {printf "%.3f", k/n}')" >>"$work/ratios"
    fi
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

summary() {
    local name="$1" file="$2"
    printf '%-6s median: %s requests/s, p99 %s ms, %s user + %s sys CPU µs per request\n' "$name" \
        "$(cut -d' ' -f1 "$file" | median)" "$(cut -d' ' -f2 "$file" | median)" \
        "$(cut -d' ' -f3 "$file" | median)" "$(cut -d' ' -f4 "$file" | median)"
}
summary kiln "$work/kiln.runs"
if [ -n "$nginx_pid" ]; then
    summary nginx "$work/nginx.runs"
    kiln_median="$(cut -d' ' -f1 "$work/kiln.runs" | median)"
    nginx_median="$(cut -d' ' -f1 "$work/nginx.runs" | median)"
    echo "ratio kiln/nginx (medians): $(awk -v k="$kiln_median" -v n="$nginx_median" 'BEGIN {printf "%.2f", k/n}');" \
         "per-run ratios: $(tr '\n' ' ' <"$work/ratios")"
fi
