"""The controllers: control loops that move the cluster towards what the objects ask for.

Each compares desired state (``spec``) with observed state (the informer caches), computes a
printable plan with a pure ``plan_*`` function, and applies it through the API server.
:class:`ControllerManager` runs them all (kube-controller-manager).
"""

from minikube_py.controllers.base import Controller, WorkQueue, record_event
from minikube_py.controllers.manager import ControllerManager

__all__ = ["Controller", "ControllerManager", "WorkQueue", "record_event"]
