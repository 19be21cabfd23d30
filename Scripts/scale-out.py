#!/usr/bin/env python3
"""Scale-out test: Kiln replicas behind Debian's nginx with deploy/nginx, under concurrent
streaming chat clients, with a rolling restart of one replica in the middle.

    Scripts/scale-out.py [--binary .build/release/kiln] [--clients 32] [--seconds 40]
                         [--max-tokens 48] [--threads 1] [--phases single,three,restart]

Phases, each under the same client load for the same time (--clients streaming chat clients,
each sending its next request as soon as its stream ends; no new request after --seconds):

  single   one replica behind nginx (every upstream entry points at it)
  three    three replicas behind nginx
  restart  three replicas; at --restart-at of the phase one replica gets SIGTERM, must exit 0
           after finishing its streams, and is started again on the same port (a rolling restart)

Every request sends its own X-Request-ID and must get it back. A client error is anything but a
200 event stream that ends with a `finish_reason`, a usage chunk and `data: [DONE]`: a refused or
failed request, a 502 from nginx, an error event, a cut stream. The script prints one line per
phase (tokens/s counted from the usage chunks, streams, errors) and exits 1 if any client saw an
error or a replica exited with another status than 0.

Replicas: `kiln serve --threads N` (1 by default: on a two-core machine three replicas of one
kernel thread each already ask for more cores than there are), `--listen-after-load true` so that
a restarted replica opens its port only once its model has loaded (nginx learns a replica's state
from connection failures alone), no image or embedding model.
"""
import argparse
import http.client
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
NGINX_DIR = ROOT / "deploy" / "nginx"
SHIPPED_PORTS = ("8081", "8082", "8083")
PROMPTS = [
    "Tell me a short story about a lighthouse.",
    "What is the boiling point of water?",
    "List three fruits and their colours.",
    "Explain what a compiler does.",
    "Write a haiku about autumn.",
    "Why is the sky blue?",
    "Give me a tip for learning to cook.",
    "Describe a cat to someone who has never seen one.",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} within {timeout} s")


class Replica:
    """One `kiln serve` process on a fixed loopback port, restartable on the same port."""

    def __init__(self, binary, port, threads, log_directory, extra_flags=()):
        self.binary, self.port, self.threads = binary, port, threads
        self.log_directory, self.extra_flags = log_directory, list(extra_flags)
        self.process = None
        self.starts = 0
        self.exit_codes = []

    def start(self):
        self.starts += 1
        log = open(os.path.join(self.log_directory, f"kiln-{self.port}-{self.starts}.log"), "wb")
        self.process = subprocess.Popen(
            [self.binary, "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--threads", str(self.threads), "--image-model", "none", "--embedding-model", "none",
             "--listen-after-load", "true", "--access-log", "false", *self.extra_flags],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def wait_ready(self, timeout=120):
        def ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"kiln on port {self.port} exited {self.process.returncode}; see {self.log_directory}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ready", timeout=1) as response:
                    return response.status == 200
            except OSError:
                return False
        wait_until(ready, timeout, f"kiln on port {self.port} did not become ready")

    def terminate_and_wait(self, timeout=60):
        """SIGTERM, then the exit status (graceful shutdown: streams in flight finish first)."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self.exit_codes.append(code)
        return code

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Nginx:
    """Debian's nginx with deploy/nginx's kiln.conf and kiln-upstreams.conf, only the replica
    ports and the listening port rewritten, run as a non-daemon in a temporary directory."""

    def __init__(self, upstream_ports, binary=None):
        self.directory = tempfile.mkdtemp(prefix="kiln-scale-out-nginx-")
        os.chmod(self.directory, 0o777)  # the worker runs as nobody when started as root
        upstreams = (NGINX_DIR / "kiln-upstreams.conf").read_text()
        for shipped, port in zip(SHIPPED_PORTS, upstream_ports):
            assert upstreams.count(f"127.0.0.1:{shipped} ") == 2, "kiln-upstreams.conf changed shape"
            upstreams = upstreams.replace(f"127.0.0.1:{shipped} ", f"127.0.0.1:{port} ")
        self.port = free_port()
        site = (NGINX_DIR / "kiln.conf").read_text()
        assert site.count("listen 8080;") == 1, "kiln.conf changed shape"
        site = site.replace("listen 8080;", f"listen 127.0.0.1:{self.port};")
        d = self.directory
        pathlib.Path(d, "kiln-upstreams.conf").write_text(upstreams)
        pathlib.Path(d, "kiln.conf").write_text(site)
        temp = " ".join(f"{kind}_temp_path {d}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        pathlib.Path(d, "nginx.conf").write_text(
            f"worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n"
            f"events {{ worker_connections 1024; }}\n"
            f"http {{ access_log off; {temp}\n include {d}/kiln-upstreams.conf;\n include {d}/kiln.conf;\n}}\n")
        nginx = binary or shutil.which("nginx") or "/usr/sbin/nginx"
        self.process = subprocess.Popen([nginx, "-p", d, "-c", f"{d}/nginx.conf", "-g", "daemon off;"],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

        def listening():
            if self.process.poll() is not None:
                raise RuntimeError("nginx exited: " + self.process.stdout.read().decode())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_until(listening, 20, "nginx did not start")

    def error_log(self):
        path = pathlib.Path(self.directory, "error.log")
        return path.read_text() if path.exists() else ""

    def stop(self):
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


class Load:
    """`clients` threads streaming chat completions through nginx until `seconds` have passed;
    each stream is checked from its status to its `data: [DONE]`."""

    def __init__(self, port, model, clients, seconds, max_tokens, tag):
        self.port, self.model, self.clients, self.seconds = port, model, clients, seconds
        self.max_tokens, self.tag = max_tokens, tag
        self.lock = threading.Lock()
        self.tokens = 0
        self.finished = 0
        self.errors = []
        self.finish_reasons = {}

    def run(self):
        self.started = time.monotonic()
        self.stop_at = self.started + self.seconds
        threads = [threading.Thread(target=self.client, args=(number,)) for number in range(self.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.elapsed = time.monotonic() - self.started
        return self

    def client(self, number):
        request = 0
        while time.monotonic() < self.stop_at:
            request += 1
            request_id = f"{self.tag}-{number}-{request}"
            try:
                tokens, reason = self.stream(number, request, request_id)
            except Exception as error:  # every failure is a client error, whatever its kind
                with self.lock:
                    self.errors.append(f"{request_id}: {type(error).__name__}: {error}")
                continue
            with self.lock:
                self.tokens += tokens
                self.finished += 1
                self.finish_reasons[reason] = self.finish_reasons.get(reason, 0) + 1

    def stream(self, number, request, request_id):
        body = json.dumps({
            "model": self.model,
            "messages": [{"role": "user", "content": PROMPTS[(number + request) % len(PROMPTS)]}],
            "max_tokens": self.max_tokens, "stream": True, "stream_options": {"include_usage": True},
            "temperature": 0.8, "seed": number * 1000 + request,
        }).encode()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        try:
            connection.request("POST", "/v1/chat/completions", body=body,
                               headers={"Content-Type": "application/json", "X-Request-ID": request_id})
            response = connection.getresponse()
            if response.status != 200:
                raise RuntimeError(f"status {response.status}: {response.read()[:300]!r}")
            echoed = response.getheader("X-Request-ID")
            if echoed != request_id:
                raise RuntimeError(f"X-Request-ID {echoed!r} came back for {request_id!r}")
            reason, tokens, done = None, None, False
            for raw in response:
                line = raw.decode().rstrip("\r\n")
                if not line.startswith("data: "):
                    continue
                data = line[len("data: "):]
                if data == "[DONE]":
                    done = True
                    break
                event = json.loads(data)
                if "error" in event:
                    raise RuntimeError(f"error event: {data[:300]}")
                for choice in event.get("choices") or []:
                    reason = choice.get("finish_reason") or reason
                if event.get("usage"):
                    tokens = event["usage"]["completion_tokens"]
            if not done or reason is None or tokens is None:
                raise RuntimeError(f"stream ended without [DONE], finish_reason or usage (done={done}, "
                                   f"finish_reason={reason}, usage tokens={tokens})")
            return tokens, reason
        finally:
            connection.close()

    def summary(self, name, replicas):
        return {
            "phase": name, "replicas": replicas, "clients": self.clients, "seconds": round(self.elapsed, 1),
            "streams_finished": self.finished, "errors": len(self.errors),
            "tokens": self.tokens, "tokens_per_second": round(self.tokens / self.elapsed, 1),
            "finish_reasons": self.finish_reasons,
        }


def model_id(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=10) as response:
        return json.load(response)["data"][0]["id"]


def rolling_restart(replica, delay, record):
    """After `delay` seconds: SIGTERM, wait for the exit, start again, wait until ready."""
    time.sleep(delay)
    began = time.monotonic()
    record["exit_code"] = replica.terminate_and_wait()
    record["stopped_after_s"] = round(time.monotonic() - began, 2)
    replica.start()
    replica.wait_ready()
    record["back_after_s"] = round(time.monotonic() - began, 2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_binary = ROOT / ".build" / "release" / "kiln"
    if not default_binary.exists():
        default_binary = ROOT / ".build" / "debug" / "kiln"
    parser.add_argument("--binary", default=os.environ.get("KILN_BINARY", str(default_binary)))
    parser.add_argument("--nginx", default=None, help="nginx binary (default: on PATH, else /usr/sbin/nginx)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=40, help="time each phase starts new requests")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=1, help="kernel threads per replica")
    parser.add_argument("--phases", default="single,three,restart")
    parser.add_argument("--restart-at", type=float, default=0.3, help="fraction of the restart phase before SIGTERM")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object at the end")
    parser.add_argument("--serve-flag", action="append", default=[], help="extra flag for every kiln serve")
    args = parser.parse_args()
    phases = [p for p in args.phases.split(",") if p]
    for phase in phases:
        if phase not in ("single", "three", "restart"):
            parser.error(f"unknown phase {phase}")

    logs = tempfile.mkdtemp(prefix="kiln-scale-out-logs-")
    ports = [free_port() for _ in range(3)]
    replicas = [Replica(args.binary, port, args.threads, logs, args.serve_flag) for port in ports]
    results = {"binary": args.binary, "threads_per_replica": args.threads, "max_tokens": args.max_tokens,
               "phases": []}
    failed = False
    try:
        needs_three = any(p in ("three", "restart") for p in phases)
        for replica in replicas if needs_three else replicas[:1]:
            replica.start()
        for replica in replicas if needs_three else replicas[:1]:
            replica.wait_ready()
        model = model_id(ports[0])
        for phase in phases:
            upstreams = [ports[0]] * 3 if phase == "single" else ports
            nginx = Nginx(upstreams, args.nginx)
            restart = {}
            restarter = None
            try:
                load = Load(nginx.port, model, args.clients, args.seconds, args.max_tokens, phase)
                if phase == "restart":
                    restarter = threading.Thread(target=rolling_restart,
                                                 args=(replicas[1], args.seconds * args.restart_at, restart))
                    restarter.start()
                load.run()
                if restarter:
                    restarter.join()
                summary = load.summary(phase, 1 if phase == "single" else 3)
                if phase == "restart":
                    summary["restart"] = restart
                    if restart.get("exit_code") != 0:
                        failed = True
                results["phases"].append(summary)
                print(f"{phase:8s} replicas={summary['replicas']} clients={args.clients} "
                      f"tokens/s={summary['tokens_per_second']} tokens={summary['tokens']} "
                      f"streams_finished={summary['streams_finished']} errors={summary['errors']} "
                      f"seconds={summary['seconds']}" + (f" restart={restart}" if restart else ""), flush=True)
                for error in load.errors[:10]:
                    print(f"  error: {error}", flush=True)
                if load.errors:
                    failed = True
                    log = nginx.error_log()
                    if log:
                        print("  nginx error log (tail):\n" + "\n".join(log.splitlines()[-10:]), flush=True)
            finally:
                nginx.stop()
        for replica in replicas if needs_three else replicas[:1]:
            code = replica.terminate_and_wait()
            if code != 0:
                failed = True
                print(f"kiln on port {replica.port} exited {code}", flush=True)
    finally:
        for replica in replicas:
            replica.kill()
    single = next((p for p in results["phases"] if p["phase"] == "single"), None)
    three = next((p for p in results["phases"] if p["phase"] == "three"), None)
    if single and three and single["tokens_per_second"]:
        results["speedup_three_over_one"] = round(three["tokens_per_second"] / single["tokens_per_second"], 2)
        print(f"three replicas / one: {results['speedup_three_over_one']}x", flush=True)
    if args.json:
        print(json.dumps(results), flush=True)
    if failed:
        print(f"FAILED (replica logs kept in {logs})", flush=True)
        return 1
    shutil.rmtree(logs, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
