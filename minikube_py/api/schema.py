"""The fields each kind knows, so that misplaced fields are reported instead of ignored.

YAML happily accepts any key, and Go's JSON decoder used to drop unknown ones silently: a
typo or a field at the wrong level simply had no effect. Since Kubernetes 1.25 the API server
checks them (``fieldValidation=Strict``, what ``kubectl apply`` asks for) and answers::

    Service in version "v1" cannot be handled as a Service: strict decoding error:
    unknown field "spec.ports[0].type"

The seed's own ``Nginx-deployment.yml`` has exactly this bug: ``type: NodePort`` is indented
under a port, so the Service silently stays a ClusterIP and nothing listens on a node port
(check with ``nft list ruleset | grep nodeport``). :func:`unknown_fields` finds such paths and
:func:`where_field_belongs` suggests where the field should go.

The table below lists the JSON field names of the upstream types (``k8s.io/api`` core/v1 and
apps/v1, ``metav1.ObjectMeta``). ``name:Type`` is an object, ``name:[Type]`` a list of objects,
``name:*`` an object we do not look inside; a bare ``name`` holds a value or a free-form map
(labels, resource lists). ``...Type`` inlines another type's fields, as Go embedding does.
"""

from __future__ import annotations

import re
from typing import Any

_TABLE = {
    # metav1
    "ObjectMeta": "name generateName namespace selfLink uid resourceVersion generation "
                  "creationTimestamp deletionTimestamp deletionGracePeriodSeconds labels "
                  "annotations ownerReferences:[OwnerReference] finalizers managedFields:*",
    "OwnerReference": "apiVersion kind name uid controller blockOwnerDeletion",
    "LabelSelector": "matchLabels matchExpressions:[LabelSelectorRequirement]",
    "LabelSelectorRequirement": "key operator values",
    # kinds
    "Pod": "metadata:ObjectMeta spec:PodSpec status:PodStatus",
    "Deployment": "metadata:ObjectMeta spec:DeploymentSpec status:DeploymentStatus",
    "ReplicaSet": "metadata:ObjectMeta spec:ReplicaSetSpec status:ReplicaSetStatus",
    "Service": "metadata:ObjectMeta spec:ServiceSpec status:ServiceStatus",
    "Endpoints": "metadata:ObjectMeta subsets:[EndpointSubset]",
    "Namespace": "metadata:ObjectMeta spec:NamespaceSpec status:NamespaceStatus",
    "ConfigMap": "metadata:ObjectMeta immutable data binaryData",
    "ServiceAccount": "metadata:ObjectMeta secrets:* imagePullSecrets:* "
                      "automountServiceAccountToken",
    "HorizontalPodAutoscaler": "metadata:ObjectMeta spec:HPASpec status:*",
    "HPASpec": "scaleTargetRef:* minReplicas maxReplicas metrics:[MetricSpec] behavior:*",
    "MetricSpec": "type resource:* pods:* object:* external:* containerResource:*",
    "Secret": "metadata:ObjectMeta immutable data stringData type",
    "PersistentVolume": "metadata:ObjectMeta spec:PersistentVolumeSpec status:*",
    "PersistentVolumeSpec": "capacity accessModes claimRef:* persistentVolumeReclaimPolicy "
                            "storageClassName mountOptions volumeMode nodeAffinity:* "
                            "volumeAttributesClassName hostPath:* local:* nfs:* csi:* iscsi:* "
                            "fc:* rbd:* cephfs:* cinder:* glusterfs:* flexVolume:* "
                            "azureFile:* azureDisk:* gcePersistentDisk:* "
                            "awsElasticBlockStore:* vsphereVolume:* portworxVolume:* "
                            "scaleIO:* storageos:* quobyte:* flocker:* photonPersistentDisk:*",
    "PersistentVolumeClaim": "metadata:ObjectMeta spec:PersistentVolumeClaimSpec status:*",
    "PersistentVolumeClaimSpec": "accessModes selector:LabelSelector "
                                 "resources:ResourceRequirements volumeName storageClassName "
                                 "volumeMode dataSource:* dataSourceRef:* "
                                 "volumeAttributesClassName",
    "StorageClass": "metadata:ObjectMeta provisioner parameters reclaimPolicy mountOptions "
                    "allowVolumeExpansion volumeBindingMode allowedTopologies:*",
    "Node": "metadata:ObjectMeta spec:NodeSpec status:*",
    "Event": "metadata:ObjectMeta involvedObject:ObjectReference reason message source:* "
             "firstTimestamp lastTimestamp count type eventTime series:* action "
             "related:ObjectReference reportingComponent reportingInstance",
    # pods
    "PodSpec": "volumes:[Volume] initContainers:[Container] containers:[Container] "
               "ephemeralContainers:* restartPolicy terminationGracePeriodSeconds "
               "activeDeadlineSeconds dnsPolicy nodeSelector serviceAccountName serviceAccount "
               "automountServiceAccountToken nodeName hostNetwork hostPID hostIPC "
               "shareProcessNamespace securityContext:* imagePullSecrets:[LocalObjectReference] "
               "hostname subdomain affinity:* schedulerName tolerations:[Toleration] "
               "hostAliases:[HostAlias] priorityClassName priority dnsConfig:PodDNSConfig "
               "readinessGates:* runtimeClassName enableServiceLinks preemptionPolicy overhead "
               "topologySpreadConstraints:* setHostnameAsFQDN os:* hostUsers schedulingGates:* "
               "resourceClaims:* resources:ResourceRequirements hostnameOverride",
    "PodStatus": "observedGeneration phase conditions:* message reason nominatedNodeName hostIP "
                 "hostIPs:* podIP podIPs:* startTime initContainerStatuses:* "
                 "containerStatuses:* qosClass ephemeralContainerStatuses:* resize "
                 "resourceClaimStatuses:* extendedResourceClaimStatus:* allocatedResources "
                 "resources:* volumeHealth:*",
    "PodTemplateSpec": "metadata:ObjectMeta spec:PodSpec",
    "Container": "name image command args workingDir ports:[ContainerPort] "
                 "envFrom:[EnvFromSource] env:[EnvVar] resources:ResourceRequirements "
                 "resizePolicy:* restartPolicy restartPolicyRules:* volumeMounts:[VolumeMount] "
                 "volumeDevices:* livenessProbe:Probe readinessProbe:Probe startupProbe:Probe "
                 "lifecycle:Lifecycle terminationMessagePath terminationMessagePolicy "
                 "imagePullPolicy securityContext:SecurityContext stdin stdinOnce tty",
    "ContainerPort": "name hostPort containerPort protocol hostIP",
    "EnvVar": "name value valueFrom:EnvVarSource",
    "EnvVarSource": "fieldRef:* resourceFieldRef:* configMapKeyRef:KeySelector "
                    "secretKeyRef:KeySelector fileKeyRef:*",
    "KeySelector": "name key optional",
    "EnvFromSource": "prefix configMapRef:EnvSource secretRef:EnvSource",
    "EnvSource": "name optional",
    "ResourceRequirements": "limits requests claims:*",
    "Probe": "...ProbeHandler initialDelaySeconds timeoutSeconds periodSeconds "
             "successThreshold failureThreshold terminationGracePeriodSeconds",
    "ProbeHandler": "exec:ExecAction httpGet:HTTPGetAction tcpSocket:TCPSocketAction grpc:*",
    "Lifecycle": "postStart:LifecycleHandler preStop:LifecycleHandler stopSignal",
    "LifecycleHandler": "exec:ExecAction httpGet:HTTPGetAction tcpSocket:TCPSocketAction "
                        "sleep:SleepAction",
    "ExecAction": "command",
    "HTTPGetAction": "path port host scheme httpHeaders:[HTTPHeader]",
    "HTTPHeader": "name value",
    "TCPSocketAction": "port host",
    "SleepAction": "seconds",
    "VolumeMount": "name readOnly recursiveReadOnly mountPath subPath mountPropagation "
                   "subPathExpr",
    "Volume": "name hostPath:* emptyDir:* gcePersistentDisk:* awsElasticBlockStore:* gitRepo:* "
              "secret:* nfs:* iscsi:* glusterfs:* persistentVolumeClaim:* rbd:* flexVolume:* "
              "cinder:* cephfs:* flocker:* downwardAPI:* fc:* azureFile:* configMap:* "
              "vsphereVolume:* quobyte:* azureDisk:* photonPersistentDisk:* projected:* "
              "portworxVolume:* scaleIO:* storageos:* csi:* ephemeral:* image:*",
    "SecurityContext": "capabilities:* privileged seLinuxOptions:* windowsOptions:* runAsUser "
                       "runAsGroup runAsNonRoot readOnlyRootFilesystem allowPrivilegeEscalation "
                       "procMount seccompProfile:* appArmorProfile:*",
    "Toleration": "key operator value effect tolerationSeconds",
    "HostAlias": "ip hostnames",
    "PodDNSConfig": "nameservers searches options:*",
    "LocalObjectReference": "name",
    # workloads
    "DeploymentSpec": "replicas selector:LabelSelector template:PodTemplateSpec "
                      "strategy:DeploymentStrategy minReadySeconds revisionHistoryLimit paused "
                      "progressDeadlineSeconds",
    "DeploymentStrategy": "type rollingUpdate:RollingUpdateDeployment",
    "RollingUpdateDeployment": "maxUnavailable maxSurge",
    "DeploymentStatus": "observedGeneration replicas updatedReplicas readyReplicas "
                        "availableReplicas unavailableReplicas terminatingReplicas "
                        "conditions:* collisionCount",
    "ReplicaSetSpec": "replicas minReadySeconds selector:LabelSelector template:PodTemplateSpec",
    "ReplicaSetStatus": "replicas fullyLabeledReplicas readyReplicas availableReplicas "
                        "terminatingReplicas observedGeneration conditions:*",
    # services
    "ServiceSpec": "ports:[ServicePort] selector clusterIP clusterIPs type externalIPs "
                   "sessionAffinity loadBalancerIP loadBalancerSourceRanges externalName "
                   "externalTrafficPolicy healthCheckNodePort publishNotReadyAddresses "
                   "sessionAffinityConfig:* ipFamilies ipFamilyPolicy "
                   "allocateLoadBalancerNodePorts loadBalancerClass internalTrafficPolicy "
                   "trafficDistribution",
    "ServicePort": "name protocol appProtocol port targetPort nodePort",
    "ServiceStatus": "loadBalancer:* conditions:*",
    "EndpointSubset": "addresses:[EndpointAddress] notReadyAddresses:[EndpointAddress] "
                      "ports:[EndpointPort]",
    "EndpointAddress": "ip hostname nodeName targetRef:ObjectReference",
    "EndpointPort": "name port protocol appProtocol",
    "ObjectReference": "kind namespace name uid apiVersion resourceVersion fieldPath",
    "NamespaceSpec": "finalizers",
    "NamespaceStatus": "phase conditions:*",
    "NodeSpec": "podCIDR podCIDRs providerID unschedulable taints:* configSource:* externalID",
}

# A child is None (a value), "*" (not checked), "Type" or "[Type]".
SCHEMA: dict[str, dict[str, str | None]] = {}


def _load() -> None:
    for type_name in _TABLE:
        SCHEMA[type_name] = _fields_of(type_name)


def _fields_of(type_name: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for word in _TABLE[type_name].split():
        if word.startswith("..."):
            out.update(_fields_of(word[3:]))
        else:
            name, _, child = word.partition(":")
            out[name] = child or None
    return out


_load()
KINDS = [k for k in SCHEMA if "metadata" in SCHEMA[k] and k != "PodTemplateSpec"]
_NOUNS = {"ServicePort": "a port", "ContainerPort": "a port", "EndpointPort": "a port",
          "Container": "a container", "ObjectMeta": "metadata", "EnvVar": "an env entry",
          "PodTemplateSpec": "the pod template", "Probe": "a probe", "Volume": "a volume",
          "VolumeMount": "a volume mount", "LabelSelector": "the selector"}


def unknown_fields(obj: Any) -> list[str]:
    """Paths of fields the object's kind does not have: ``["spec.ports[0].type"]``.

    Unknown kinds give ``[]`` (nothing to compare with). The API server words each one as
    ``unknown field "<path>"``; see :func:`unknown_field_message`.
    """
    if not isinstance(obj, dict) or obj.get("kind") not in KINDS:
        return []
    found: list[str] = []
    _walk(obj, obj["kind"], "", found, top=True)
    return found


def unknown_field_message(path: str) -> str:
    return f'unknown field "{path}"'


def strict_decoding_message(obj: dict[str, Any], paths: list[str]) -> str:
    """The API server's whole sentence (HTTP 400, reason BadRequest) for these paths."""
    kind = obj.get("kind")
    version = str(obj.get("apiVersion", "")).rpartition("/")[2]
    fields = ", ".join(unknown_field_message(p) for p in paths)
    return (f'{kind} in version "{version}" cannot be handled as a {kind}: '
            f"strict decoding error: {fields}")


def _walk(value: Any, type_name: str, path: str, found: list[str], top: bool = False) -> None:
    if not isinstance(value, dict):
        return
    known = SCHEMA[type_name]
    for key, child in value.items():
        if top and key in ("apiVersion", "kind"):
            continue
        sub = f"{path}.{key}" if path else str(key)
        if key not in known:
            found.append(sub)
            continue
        kind = known[key]
        if kind is None or kind == "*":
            continue
        if kind.startswith("["):
            for i, item in enumerate(child if isinstance(child, list) else []):
                _walk(item, kind[1:-1], f"{sub}[{i}]", found)
        else:
            _walk(child, kind, sub, found)


_SEGMENT = re.compile(r"([^.\[\]]+)((?:\[\d+\])?)")


def _types_along(kind: str, path: str) -> list[tuple[str, str]] | None:
    """[(path so far, type there)] for each object on the path, root first."""
    out = [("", kind)]
    segments = _SEGMENT.findall(path)
    for name, index in segments[:-1]:
        parent_path, parent = out[-1]
        child = SCHEMA.get(parent, {}).get(name)
        if not child or child == "*" or child.startswith("[") != bool(index):
            return None
        sub = f"{parent_path}.{name}{index}" if parent_path else f"{name}{index}"
        out.append((sub, child.strip("[]")))
    return out


def _noun(type_name: str, kind: str) -> str:
    if type_name in _NOUNS:
        return _NOUNS[type_name]
    if type_name.endswith("Spec"):
        return f"the {type_name[:-4] or kind} spec"
    return f"the {kind}" if type_name == kind else f"a {type_name}"


def where_field_belongs(path: str, kind: str | None = None) -> str | None:
    """A hint for an unknown field, or None: for ``("spec.ports[0].type", "Service")`` ->
    ``did you mean spec.type? (type is a field of the Service spec, not of a port)``.
    Without a kind, the first kind whose types fit the path gives the hint."""
    if kind is None:
        hints = (where_field_belongs(path, k) for k in KINDS)
        return next((h for h in hints if h), None)
    if kind not in SCHEMA:
        return None
    along = _types_along(kind, path)
    if not along:
        return None
    name = _SEGMENT.findall(path)[-1][0]
    here = along[-1][1]
    for known in SCHEMA[here]:
        if known.lower() == name.lower():
            return f"did you mean {known}? (field names are case-sensitive)"
    for ancestor_path, type_name in reversed(along[:-1]):
        if name in SCHEMA[type_name]:
            suggestion = f"{ancestor_path}.{name}" if ancestor_path else name
            return (f"did you mean {suggestion}? ({name} is a field of "
                    f"{_noun(type_name, kind)}, not of {_noun(here, kind)})")
    base = along[-1][0]
    found = _descendants_with(here, name, base)
    if found:
        suggestion, inner = found
        return (f"did you mean {suggestion}? ({name} is a field of {_noun(inner, kind)}, "
                f"not of {_noun(here, kind)})")
    return None


def _descendants_with(type_name: str, name: str, base: str) -> tuple[str, str] | None:
    """The nearest (path, type) below ``type_name`` that has field ``name``; breadth first,
    preferring fields that hold values and regular containers over init containers."""
    level = [(base, type_name)]
    for _depth in range(3):
        matches, next_level = [], []
        for path, current in level:
            for child_name, child in SCHEMA[current].items():
                if not child or child == "*":
                    continue
                inner = child.strip("[]")
                sub = f"{path}.{child_name}" if path else child_name
                sub += "[0]" if child.startswith("[") else ""
                next_level.append((sub, inner))
                if name in SCHEMA[inner]:
                    rank = (SCHEMA[inner][name] is None, not child_name.endswith("Containers"))
                    matches.append((rank, f"{sub}.{name}", inner))
        if matches:
            best = max(matches, key=lambda m: m[0])
            return best[1], best[2]
        level = next_level
    return None
