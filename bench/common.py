"""Shared helpers for the benchmarks: medians and percentiles, a throwaway node config.

Benchmarks print a report; they never assert on time (targets are compared in the report
and in bench/README.md). They create objects only with the ``mkb`` prefix, under
``/tmp/minikube-py-bench-*``, on the pod CIDR 10.251.0.0/24, and remove them at the end.
"""

from __future__ import annotations

import statistics
import tempfile

from minikube_py.config import NodeConfig


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def summary(values: list[float], unit: str = "ms", scale: float = 1000.0) -> str:
    if not values:
        return "no samples"
    return (f"median {statistics.median(values) * scale:7.1f} {unit}   "
            f"p95 {percentile(values, 95) * scale:7.1f} {unit}   "
            f"min {min(values) * scale:7.1f} {unit}   n={len(values)}")


def bench_config() -> NodeConfig:
    state = tempfile.mkdtemp(prefix="minikube-py-bench-")
    return NodeConfig(state_dir=state, log_dir=f"{state}/logs", prefix="mkb",
                      bridge="mkbbr0", pod_cidr="10.251.0.0/24",
                      cgroup_parent="minikube-py-bench", nft_table="minikube_py_bench",
                      image_store="/var/lib/minikube-py/images")
