"""Talking to the API server: the one way every component reaches the cluster's state.

The study note: "the API server is the only entry for resource operations". The scheduler,
the controllers, the kubelet and the CLI all use :class:`Client` (plain REST over HTTP(S))
and :class:`Informer` (list, then watch, with a local cache — client-go's informer), even
when ``minikube-py up`` runs them in the same process as the API server.
"""

from minikube_py.client.client import ApiError, Client, Watch
from minikube_py.client.informer import Informer

__all__ = ["ApiError", "Client", "Informer", "Watch"]
