"""Docs/openapi.yaml: a valid OpenAPI 3.1 document (openapi-spec-validator) that names exactly the
routes the Swift sources register (`router.get`/`router.post` in Sources/), each with the error
body of the OpenAI API. The live server is checked against it by
Tests/EndToEnd/test_openapi_schemathesis.py."""
import pathlib
import re

import yaml
from openapi_spec_validator import validate

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "Docs" / "openapi.yaml"
ROUTE = re.compile(r"\brouter\.(get|post|put|patch|delete)\(\s*\"([^\"]+)\"")


def spec():
    return yaml.safe_load(DOCUMENT.read_text())


def registered_routes():
    """(method, path) of every route the sources register; doc comments (`///` examples) skipped."""
    routes = set()
    for source in (ROOT / "Sources").rglob("*.swift"):
        code = "\n".join(line for line in source.read_text().splitlines() if not line.lstrip().startswith("//"))
        routes |= {(method, path) for method, path in ROUTE.findall(code)}
    return routes


def documented_routes():
    methods = {"get", "post", "put", "patch", "delete", "head", "options"}
    return {(method, path) for path, item in spec()["paths"].items() for method in item if method in methods}


def test_document_is_valid_openapi_3_1():
    document = spec()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_registered_route_is_documented_and_nothing_else():
    registered = registered_routes()
    # The scan must find the routes at all: a regex that silently matched nothing would pass.
    assert {("get", "/health"), ("post", "/v1/chat/completions"), ("get", "/v1/models/{model}")} <= registered
    documented = documented_routes()
    assert registered - documented == set(), "routes registered in Sources/ but missing from Docs/openapi.yaml"
    assert documented - registered == set(), "routes in Docs/openapi.yaml that no source registers"


def test_every_operation_documents_errors_in_openai_shape():
    document = spec()
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert set(error["properties"]["error"]["required"]) == {"message", "type", "param", "code"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "default" in responses, f"{method} {path}: no default (error) response"
            if method == "post":
                assert "400" in responses, f"{method} {path}: no 400"
                assert operation["requestBody"]["content"].keys() == {"application/json"}


def test_streaming_endpoints_document_server_sent_events():
    document = spec()
    for path in ("/v1/chat/completions", "/v1/completions", "/v1/images/generations"):
        content = document["paths"][path]["post"]["responses"]["200"]["content"]
        assert {"application/json", "text/event-stream"} <= content.keys(), path


def test_playground_files_are_the_folder_compiled_in():
    """`/playground/{file}` documents exactly the files the binary compiles in (besides the page)."""
    parameter = spec()["paths"]["/playground/{file}"]["get"]["parameters"][0]
    folder = {path.name for path in (ROOT / "Sources" / "KilnAPI" / "Playground" / "Files").iterdir()}
    assert set(parameter["schema"]["enum"]) == folder - {"index.html"}


def test_every_response_documents_the_request_id():
    """Every response the server sends carries X-Request-ID (Docs/operations.md, "Request ids"):
    each documented response declares it, and the error body documents `request_id`."""
    document = spec()
    header = document["components"]["headers"]["RequestID"]
    assert header["required"] is True
    assert header["schema"]["pattern"] == "^[A-Za-z0-9._:-]+$"
    shared = document["components"]["responses"]
    for name, response in shared.items():
        assert response["headers"]["X-Request-ID"] == {"$ref": "#/components/headers/RequestID"}, name
    checked = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if "$ref" not in response:
                    assert response["headers"]["X-Request-ID"] == {"$ref": "#/components/headers/RequestID"}, \
                        f"{method} {path} {status}: no X-Request-ID header"
                checked += 1
    assert checked > 30
    error = document["components"]["schemas"]["Error"]["properties"]["error"]
    assert error["properties"]["request_id"]["type"] == "string"
