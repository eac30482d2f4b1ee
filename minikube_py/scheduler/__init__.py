"""The scheduler: which node runs each pod (kube-scheduler).

:mod:`.algorithm` is the pure part (filter, score, ``schedule_one``), :mod:`.scheduler` the
part that talks to the API server (informers, Bindings, FailedScheduling events).
"""

from minikube_py.scheduler.algorithm import (
    filter_nodes,
    schedule_one,
    score_nodes,
    unschedulable_message,
)
from minikube_py.scheduler.scheduler import Scheduler

__all__ = ["Scheduler", "filter_nodes", "schedule_one", "score_nodes", "unschedulable_message"]
