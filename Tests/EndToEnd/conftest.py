"""Starts the real `kiln` binary on a free loopback port for the end-to-end tests.

The binary is the one `swift build` left in .build/debug (KILN_BINARY overrides it); the model is
the default one (KILN_DEFAULT_MODEL, or the cache). Each server is stopped with SIGTERM at the end
and must exit 0.
"""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_embedding_models():
    """The embedding model `kiln serve` adds when none is named: the default one when it is there
    (KILN_DEFAULT_EMBEDDING_MODEL, which Scripts/test.sh sets, or the model cache), as the binary
    decides."""
    if os.environ.get("KILN_DEFAULT_EMBEDDING_MODEL"):
        return [os.path.basename(os.environ["KILN_DEFAULT_EMBEDDING_MODEL"].rstrip("/"))]
    cache = os.environ.get("KILN_MODEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kiln", "models")
    return ["all-MiniLM-L6-v2"] if os.path.exists(os.path.join(cache, "all-MiniLM-L6-v2", "model.safetensors")) else []


class KilnServer:
    def __init__(self, *flags, api_key=None):
        """`api_key`: one of the keys `flags` give the server (`--api-keys`), sent where the
        server asks for one."""
        binary = os.environ.get("KILN_BINARY", os.path.join(ROOT, ".build", "debug", "kiln"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [binary, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--access-log", "false", *flags],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("kiln exited: " + self.process.stdout.read().decode())
            try:
                with urllib.request.urlopen(self.base + "/ready", timeout=1) as response:
                    if response.status == 200:
                        break
            except Exception:
                time.sleep(0.1)
        else:
            raise RuntimeError("kiln did not become ready")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        with urllib.request.urlopen(urllib.request.Request(self.base + "/v1/models", headers=headers)) as response:
            import json
            self.model = json.load(response)["data"][0]["id"]

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        assert code == 0, f"kiln exited {code}"


@pytest.fixture(scope="session")
def kiln():
    server = KilnServer()
    yield server
    server.stop()


def qwen_path():
    """Qwen2.5-Coder-0.5B-Instruct from the model cache (Scripts/test.sh fetches it; fetched here when
    the tests run alone)."""
    result = subprocess.run([sys.executable, os.path.join(ROOT, "Scripts", "fetch-model.py"), "qwen2.5-coder-0.5b"],
                            capture_output=True, text=True, check=True)
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def qwen():
    """A server of Qwen2.5-Coder-0.5B, the second reference model (its template writes tool calls)."""
    server = KilnServer("-m", qwen_path(), "--image-model", "none", "--embedding-model", "none")
    yield server
    server.stop()
