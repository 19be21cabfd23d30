"""The gauges a load-aware router reads from each replica (the Gateway API Inference Extension's
endpoint picker, configured in deploy/inference-gateway/endpoint-picker.yaml): every metric the
picker's flags name is on /metrics, a gauge, with the served model's name as its model_name label."""
import os
import urllib.request

import yaml
from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT

FLAGS = ("total-queued-requests-metric", "total-running-requests-metric", "kv-cache-usage-percentage-metric")


def picker_metrics():
    path = os.path.join(ROOT, "deploy", "inference-gateway", "endpoint-picker.yaml")
    deployment = next(d for d in yaml.safe_load_all(open(path)) if d and d["kind"] == "Deployment")
    args = dict(a[2:].split("=", 1) for a in deployment["spec"]["template"]["spec"]["containers"][0]["args"])
    return {flag: args[flag] for flag in FLAGS}


def test_the_picker_reads_kilns_per_model_gauges(kiln):
    text = urllib.request.urlopen(kiln.base + "/metrics").read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for flag, name in picker_metrics().items():
        assert name in families, f"--{flag}={name} is not on /metrics"
        family = families[name]
        assert family.type == "gauge", name
        assert [s.labels for s in family.samples] == [{"model_name": kiln.model}], name
    kv = families[picker_metrics()["kv-cache-usage-percentage-metric"]].samples[0].value
    assert 0 <= kv <= 1
