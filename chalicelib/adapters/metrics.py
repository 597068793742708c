"""CloudWatch metrics written as log lines in the Embedded Metric Format (EMF).

A Lambda function's stdout goes to its log group; CloudWatch Logs turns each line that is an EMF
JSON document into a metric value. That needs no CloudWatch permission and no API call, so a
failure is counted even when AWS APIs are the thing failing. Every Tether metric carries one
dimension, the stage (`tether deploy` alarms on it). Lines are plain JSON on stdout, not records
of the `logging` module: Lambda's log handler prefixes records, and a prefixed line is not EMF.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

NAMESPACE = "Tether"
# A workflow run that failed, timed out or was aborted (docs/deploy.md: how each is counted once).
FAILED_RUNS = "WorkflowRunsFailed"


class Metrics:
    """Counts events for the stage's alarms."""

    def __init__(self, stage: str, clock: Callable[[], float] = time.time) -> None:
        self._stage = stage
        self._clock = clock

    def failed_run(self, **properties: str) -> None:
        """Count one failed workflow run; `properties` (ids, status, error name; never data) ride
        along in the log line for whoever reads it."""
        self._emit(FAILED_RUNS, {"event": "workflow_run_failed", **properties})

    def _emit(self, metric: str, properties: dict[str, str]) -> None:
        document = {
            "_aws": {
                "Timestamp": int(self._clock() * 1000),
                "CloudWatchMetrics": [
                    {"Namespace": NAMESPACE, "Dimensions": [["Stage"]], "Metrics": [{"Name": metric, "Unit": "Count"}]}
                ],
            },
            **properties,
            "Stage": self._stage,
            metric: 1,
        }
        # Looked up at each call: the local stack and tests may swap stdout.
        sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
        sys.stdout.flush()
