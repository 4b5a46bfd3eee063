"""Parses Prometheus exposition text (stdin) with python3-prometheus-client's own parser and
prints every sample as JSON: {"name{label=value,...}": value}. A text the parser refuses exits
non-zero with its error, so the test fails on a malformed /metrics."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

samples = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        samples[f"{s.name}{{{labels}}}"] = s.value
print(json.dumps(samples))
