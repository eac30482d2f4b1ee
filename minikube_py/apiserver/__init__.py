"""The API server: the only component that reads and writes the store.

Every other component (scheduler, controllers, kubelet, ``kubectl``) sends it HTTP requests
shaped like the real Kubernetes API (``/api/v1/namespaces/default/pods``). Besides the server
itself this package holds three pure helper modules that have no I/O and are unit-tested on
their own: ``patch`` (the four PATCH flavours), ``selectors`` (``-l app=web`` and
``--field-selector spec.nodeName=``) and ``tables`` (what ``kubectl get`` prints).
"""
