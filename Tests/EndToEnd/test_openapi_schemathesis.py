"""Schemathesis against the real server and Docs/openapi.yaml: generated requests (valid and
invalid, a bounded number per operation) must never get a 5xx, and every answer must have a status,
content type and body the document gives for that operation. Server-sent events are checked too:
schemathesis parses `text/event-stream` answers and validates each event against the document.

The server runs with small limits so that generated requests stay fast: a 64-token context (every
generation ends within it), at most 2 choices, 4 tokens by default, 8 embedding inputs, and no image
model (`/v1/images/generations` is then unregistered and answers 404, which the document states;
the image endpoint's schemas are exercised only for that answer here).
"""
import os
import pathlib
import subprocess
import sys

from conftest import KilnServer

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
EXAMPLES_PER_OPERATION = 10
TIME_BUDGET_SECONDS = 150


def test_live_server_matches_openapi_document(tmp_path):
    server = KilnServer(
        "--image-model", "none", "--context-length", "64", "--max-n", "2", "--default-max-tokens", "4",
        "--embedding-max-inputs", "8")
    try:
        env = dict(os.environ, SCHEMATHESIS_HOOKS="schemathesis_hooks", KILN_SCHEMATHESIS_MODEL=server.model,
                   PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])))
        command = [
            sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()", "run", str(ROOT / "Docs" / "openapi.yaml"),
            "--url", server.base, "--checks", CHECKS,
            "--max-examples", str(EXAMPLES_PER_OPERATION), "--seed", "1",
            "--phases", "examples,coverage,fuzzing", "--generation-database", "none",
            "--request-timeout", "30", "--max-time", str(TIME_BUDGET_SECONDS), "--no-color",
            "--report", "junit", "--report-dir", str(tmp_path),
        ]
        result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True,
                                timeout=TIME_BUDGET_SECONDS + 120)
        assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
        # It must have tested every operation, not stopped at the schema.
        assert "14 selected / 14 total" in result.stdout, result.stdout[-5000:]
    finally:
        server.stop()
