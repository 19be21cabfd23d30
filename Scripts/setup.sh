#!/usr/bin/env bash
# Installs what building and testing Kiln needs on a fresh Debian/Ubuntu machine that already has the
# Swift toolchain and python3: the system libraries Kiln links, the command-line clients the
# integration tests drive (nginx: the load-balancing configuration in deploy/nginx runs under test;
# chromium and its driver: the browser playground runs in headless Chromium under test),
# and the Python packages the reference tests use. Idempotent and quick when everything is there
# already.
set -euo pipefail
need_apt=()
for pkg in libssl-dev zlib1g-dev pkg-config curl openssl nginx chromium chromium-driver; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    echo "setup: installing ${need_apt[*]}" >&2
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >&2
fi
# prometheus_client parses /metrics in a test; openai is the official client the end-to-end tests drive;
# numpy, scipy and pillow run the image model's pixel analysis (Scripts/dit/evaluate.py) in a test;
# kubernetes-validate (with PyYAML) validates deploy/kubernetes against Kubernetes 1.31's schemas;
# openapi-spec-validator validates Docs/openapi.yaml and schemathesis checks the live server against it;
# selenium drives the playground in Chromium through chromium-driver.
python3 - <<'PY' 2>/dev/null || python3 -m pip install --quiet prometheus_client openai pytest numpy scipy pillow pyyaml kubernetes-validate==1.37.0 openapi-spec-validator==0.9.0 schemathesis==4.32.5 selenium==4.50.0 >&2
import prometheus_client, openai, pytest, numpy, scipy, PIL, yaml, kubernetes_validate, openapi_spec_validator, schemathesis, selenium
assert schemathesis.__version__ == "4.32.5"
assert selenium.__version__ == "4.50.0"
PY
