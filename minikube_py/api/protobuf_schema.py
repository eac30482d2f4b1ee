"""The protobuf schema of the objects kubectl's generators send, one table per message.

Each table is written from the field numbers of the v1.32 ``generated.proto`` files
(``k8s.io/api/core/v1``, ``apps/v1``, ``rbac/v1`` and ``k8s.io/apimachinery``), with the Go field
type and JSON tag of ``types.go`` folded in, because the JSON a Go program prints depends on them.
One line per field::

    3  port                           int32                   no-omitempty
    ^  ^ JSON name                    ^ Go type               ^ JSON tag has no ``omitempty``

The type column reads like Go: ``string``, ``int32``, ``int64``, ``bool``, ``bytes`` or a message
name, prefixed by ``*`` (a pointer: sent only when set, printed even when zero), ``[]`` (a
repeated field) or ``map[string]`` (repeated ``{key=1, value=2}`` entries). Named Go string types
(``Protocol``, ``ServiceType``) are written ``string``. A ``-`` name with ``inline`` is an embedded
struct whose fields JSON flattens into the parent (``Volume`` holds ``VolumeSource`` that way).

Only the messages kubectl's generators can fill are here, and some exotic fields are left out on
purpose (affinity, most volume sources, status conditions, managedFields): a body that carries one
is refused by name instead of being decoded half-way. ``Time``, ``MicroTime``, ``Quantity`` and
``IntOrString`` have their own JSON forms, applied in :mod:`minikube_py.api.protobuf`.
"""

from __future__ import annotations

META = "k8s.io.apimachinery.pkg.apis.meta.v1"
CORE = "k8s.io.api.core.v1"
APPS = "k8s.io.api.apps.v1"
RBAC = "k8s.io.api.rbac.v1"
AUTHN = "k8s.io.api.authentication.v1"
RESOURCE = "k8s.io.apimachinery.pkg.api.resource"
INTSTR = "k8s.io.apimachinery.pkg.util.intstr"

#: (apiVersion, kind) of a top-level object -> its message name.
KINDS: dict[tuple[str, str], str] = {
    ("v1", "Pod"): "Pod",
    ("v1", "Service"): "Service",
    ("v1", "Namespace"): "Namespace",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Secret"): "Secret",
    ("v1", "Endpoints"): "Endpoints",
    ("v1", "Event"): "Event",
    ("apps/v1", "Deployment"): "Deployment",
    ("apps/v1", "ReplicaSet"): "ReplicaSet",
    ("rbac.authorization.k8s.io/v1", "Role"): "Role",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "ClusterRole",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "ClusterRoleBinding",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("authentication.k8s.io/v1", "TokenRequest"): "TokenRequest",  # kubectl create token
}

TABLES: dict[str, str] = {}

TABLES[RESOURCE] = """
message Quantity                                              # JSON: the string itself, "500m"
    1  string                         string
"""

TABLES[INTSTR] = """
message IntOrString                                           # JSON: intVal or strVal by type
    1  type                           int64
    2  intVal                         int32
    3  strVal                         string
"""

TABLES[META] = """
message Time                                                  # JSON: "2026-01-02T03:04:05Z" or null
    1  seconds                        int64
    2  nanos                          int32
message MicroTime                                             # JSON: "...T03:04:05.000000Z" or null
    1  seconds                        int64
    2  nanos                          int32
message ObjectMeta
    1  name                           string
    2  generateName                   string
    3  namespace                      string
    4  selfLink                       string
    5  uid                            string
    6  resourceVersion                string
    7  generation                     int64
    8  creationTimestamp              Time
    9  deletionTimestamp              *Time
    10 deletionGracePeriodSeconds     *int64
    11 labels                         map[string]string
    12 annotations                    map[string]string
    13 ownerReferences                []OwnerReference
    14 finalizers                     []string
message OwnerReference
    1  kind                           string                  no-omitempty
    3  name                           string                  no-omitempty
    4  uid                            string                  no-omitempty
    5  apiVersion                     string                  no-omitempty
    6  controller                     *bool
    7  blockOwnerDeletion             *bool
message LabelSelector
    1  matchLabels                    map[string]string
    2  matchExpressions               []LabelSelectorRequirement
message LabelSelectorRequirement
    1  key                            string                  no-omitempty
    2  operator                       string                  no-omitempty
    3  values                         []string
"""

TABLES[CORE] = """
message Pod
    1  metadata                       ObjectMeta
    2  spec                           PodSpec
    3  status                         PodStatus
message PodSpec
    1  volumes                        []Volume
    2  containers                     []Container             no-omitempty
    3  restartPolicy                  string
    4  terminationGracePeriodSeconds  *int64
    5  activeDeadlineSeconds          *int64
    6  dnsPolicy                      string
    7  nodeSelector                   map[string]string
    8  serviceAccountName             string
    9  serviceAccount                 string
    10 nodeName                       string
    11 hostNetwork                    bool
    12 hostPID                        bool
    13 hostIPC                        bool
    14 securityContext                *PodSecurityContext
    15 imagePullSecrets               []LocalObjectReference
    16 hostname                       string
    17 subdomain                      string
    19 schedulerName                  string
    20 initContainers                 []Container
    21 automountServiceAccountToken   *bool
    22 tolerations                    []Toleration
    23 hostAliases                    []HostAlias
    24 priorityClassName              string
    25 priority                       *int32
    27 shareProcessNamespace          *bool
    29 runtimeClassName               *string
    30 enableServiceLinks             *bool
    31 preemptionPolicy               *string
    32 overhead                       map[string]Quantity
    35 setHostnameAsFQDN              *bool
    37 hostUsers                      *bool
    40 resources                      *ResourceRequirements
message PodStatus
    1  phase                          string
    3  message                        string
    4  reason                         string
    5  hostIP                         string
    6  podIP                          string
    7  startTime                      *Time
    9  qosClass                       string
    11 nominatedNodeName              string
    14 resize                         string
message PodTemplateSpec
    1  metadata                       ObjectMeta
    2  spec                           PodSpec
message Container
    1  name                           string                  no-omitempty
    2  image                          string
    3  command                        []string
    4  args                           []string
    5  workingDir                     string
    6  ports                          []ContainerPort
    7  env                            []EnvVar
    8  resources                      ResourceRequirements
    9  volumeMounts                   []VolumeMount
    10 livenessProbe                  *Probe
    11 readinessProbe                 *Probe
    12 lifecycle                      *Lifecycle
    13 terminationMessagePath         string
    14 imagePullPolicy                string
    15 securityContext                *SecurityContext
    16 stdin                          bool
    17 stdinOnce                      bool
    18 tty                            bool
    19 envFrom                        []EnvFromSource
    20 terminationMessagePolicy       string
    22 startupProbe                   *Probe
    24 restartPolicy                  *string
message ContainerPort
    1  name                           string
    2  hostPort                       int32
    3  containerPort                  int32                   no-omitempty
    4  protocol                       string
    5  hostIP                         string
message EnvVar
    1  name                           string                  no-omitempty
    2  value                          string
    3  valueFrom                      *EnvVarSource
message EnvVarSource
    1  fieldRef                       *ObjectFieldSelector
    2  resourceFieldRef               *ResourceFieldSelector
    3  configMapKeyRef                *ConfigMapKeySelector
    4  secretKeyRef                   *SecretKeySelector
message ObjectFieldSelector
    1  apiVersion                     string
    2  fieldPath                      string                  no-omitempty
message ResourceFieldSelector
    1  containerName                  string
    2  resource                       string                  no-omitempty
    3  divisor                        Quantity
message ConfigMapKeySelector
    1  -                              LocalObjectReference    inline
    2  key                            string                  no-omitempty
    3  optional                       *bool
message SecretKeySelector
    1  -                              LocalObjectReference    inline
    2  key                            string                  no-omitempty
    3  optional                       *bool
message EnvFromSource
    1  prefix                         string
    2  configMapRef                   *ConfigMapEnvSource
    3  secretRef                      *SecretEnvSource
message ConfigMapEnvSource
    1  -                              LocalObjectReference    inline
    2  optional                       *bool
message SecretEnvSource
    1  -                              LocalObjectReference    inline
    2  optional                       *bool
message ResourceRequirements
    1  limits                         map[string]Quantity
    2  requests                       map[string]Quantity
    3  claims                         []ResourceClaim
message ResourceClaim
    1  name                           string                  no-omitempty
    2  request                        string
message VolumeMount
    1  name                           string                  no-omitempty
    2  readOnly                       bool
    3  mountPath                      string                  no-omitempty
    4  subPath                        string
    5  mountPropagation               *string
    6  subPathExpr                    string
    7  recursiveReadOnly              *string
message Probe
    1  -                              ProbeHandler            inline
    2  initialDelaySeconds            int32
    3  timeoutSeconds                 int32
    4  periodSeconds                  int32
    5  successThreshold               int32
    6  failureThreshold               int32
    7  terminationGracePeriodSeconds  *int64
message ProbeHandler
    1  exec                           *ExecAction
    2  httpGet                        *HTTPGetAction
    3  tcpSocket                      *TCPSocketAction
    4  grpc                           *GRPCAction
message ExecAction
    1  command                        []string
message HTTPGetAction
    1  path                           string
    2  port                           IntOrString             no-omitempty
    3  host                           string
    4  scheme                         string
    5  httpHeaders                    []HTTPHeader
message HTTPHeader
    1  name                           string                  no-omitempty
    2  value                          string                  no-omitempty
message TCPSocketAction
    1  port                           IntOrString             no-omitempty
    2  host                           string
message GRPCAction
    1  port                           int32                   no-omitempty
    2  service                        *string                 no-omitempty
message Lifecycle
    1  postStart                      *LifecycleHandler
    2  preStop                        *LifecycleHandler
message LifecycleHandler
    1  exec                           *ExecAction
    2  httpGet                        *HTTPGetAction
    3  tcpSocket                      *TCPSocketAction
    4  sleep                          *SleepAction
message SleepAction
    1  seconds                        int64                   no-omitempty
message SecurityContext
    1  capabilities                   *Capabilities
    2  privileged                     *bool
    4  runAsUser                      *int64
    5  runAsNonRoot                   *bool
    6  readOnlyRootFilesystem         *bool
    7  allowPrivilegeEscalation       *bool
    8  runAsGroup                     *int64
    9  procMount                      *string
message Capabilities
    1  add                            []string
    2  drop                           []string
message PodSecurityContext
    2  runAsUser                      *int64
    3  runAsNonRoot                   *bool
    4  supplementalGroups             []int64
    5  fsGroup                        *int64
    6  runAsGroup                     *int64
    9  fsGroupChangePolicy            *string
    12 supplementalGroupsPolicy       *string
    13 seLinuxChangePolicy            *string
message LocalObjectReference
    1  name                           string
message Volume
    1  name                           string                  no-omitempty
    2  -                              VolumeSource            inline
message VolumeSource
    1  hostPath                       *HostPathVolumeSource
    2  emptyDir                       *EmptyDirVolumeSource
    6  secret                         *SecretVolumeSource
    10 persistentVolumeClaim          *PersistentVolumeClaimVolumeSource
    19 configMap                      *ConfigMapVolumeSource
message HostPathVolumeSource
    1  path                           string                  no-omitempty
    2  type                           *string
message EmptyDirVolumeSource
    1  medium                         string
    2  sizeLimit                      *Quantity
message SecretVolumeSource
    1  secretName                     string
    2  items                          []KeyToPath
    3  defaultMode                    *int32
    4  optional                       *bool
message ConfigMapVolumeSource
    1  -                              LocalObjectReference    inline
    2  items                          []KeyToPath
    3  defaultMode                    *int32
    4  optional                       *bool
message KeyToPath
    1  key                            string                  no-omitempty
    2  path                           string                  no-omitempty
    3  mode                           *int32
message PersistentVolumeClaimVolumeSource
    1  claimName                      string                  no-omitempty
    2  readOnly                       bool
message Toleration
    1  key                            string
    2  operator                       string
    3  value                          string
    4  effect                         string
    5  tolerationSeconds              *int64
message HostAlias
    1  ip                             string                  no-omitempty
    2  hostnames                      []string
message Service
    1  metadata                       ObjectMeta
    2  spec                           ServiceSpec
    3  status                         ServiceStatus
message ServiceSpec
    1  ports                          []ServicePort
    2  selector                       map[string]string
    3  clusterIP                      string
    4  type                           string
    5  externalIPs                    []string
    7  sessionAffinity                string
    8  loadBalancerIP                 string
    9  loadBalancerSourceRanges       []string
    10 externalName                   string
    11 externalTrafficPolicy          string
    12 healthCheckNodePort            int32
    13 publishNotReadyAddresses       bool
    14 sessionAffinityConfig          *SessionAffinityConfig
    17 ipFamilyPolicy                 *string
    18 clusterIPs                     []string
    19 ipFamilies                     []string
    20 allocateLoadBalancerNodePorts  *bool
    21 loadBalancerClass              *string
    22 internalTrafficPolicy          *string
    23 trafficDistribution            *string
message ServicePort
    1  name                           string
    2  protocol                       string
    3  port                           int32                   no-omitempty
    4  targetPort                     IntOrString
    5  nodePort                       int32
    6  appProtocol                    *string
message ServiceStatus
    1  loadBalancer                   LoadBalancerStatus
message LoadBalancerStatus
    1  ingress                        []LoadBalancerIngress
message LoadBalancerIngress
    1  ip                             string
    2  hostname                       string
    3  ipMode                         *string
message SessionAffinityConfig
    1  clientIP                       *ClientIPConfig
message ClientIPConfig
    1  timeoutSeconds                 *int32
message Namespace
    1  metadata                       ObjectMeta
    2  spec                           NamespaceSpec
    3  status                         NamespaceStatus
message NamespaceSpec
    1  finalizers                     []string
message NamespaceStatus
    1  phase                          string
message ServiceAccount
    1  metadata                       ObjectMeta
    2  secrets                        []ObjectReference
    3  imagePullSecrets               []LocalObjectReference
    4  automountServiceAccountToken   *bool
message ConfigMap
    1  metadata                       ObjectMeta
    2  data                           map[string]string
    3  binaryData                     map[string]bytes
    4  immutable                      *bool
message Secret
    1  metadata                       ObjectMeta
    2  data                           map[string]bytes
    3  type                           string
    4  stringData                     map[string]string
    5  immutable                      *bool
message Endpoints
    1  metadata                       ObjectMeta
    2  subsets                        []EndpointSubset
message EndpointSubset
    1  addresses                      []EndpointAddress
    2  notReadyAddresses              []EndpointAddress
    3  ports                          []EndpointPort
message EndpointAddress
    1  ip                             string                  no-omitempty
    2  targetRef                      *ObjectReference
    3  hostname                       string
    4  nodeName                       *string
message EndpointPort
    1  name                           string
    2  port                           int32                   no-omitempty
    3  protocol                       string
    4  appProtocol                    *string
message ObjectReference
    1  kind                           string
    2  namespace                      string
    3  name                           string
    4  uid                            string
    5  apiVersion                     string
    6  resourceVersion                string
    7  fieldPath                      string
message Event
    1  metadata                       ObjectMeta              no-omitempty
    2  involvedObject                 ObjectReference         no-omitempty
    3  reason                         string
    4  message                        string
    5  source                         EventSource
    6  firstTimestamp                 Time
    7  lastTimestamp                  Time
    8  count                          int32
    9  type                           string
    10 eventTime                      MicroTime
    11 series                         *EventSeries
    12 action                         string
    13 related                        *ObjectReference
    14 reportingComponent             string                  no-omitempty
    15 reportingInstance              string                  no-omitempty
message EventSource
    1  component                      string
    2  host                           string
message EventSeries
    1  count                          int32
    2  lastObservedTime               MicroTime
"""

TABLES[APPS] = """
message Deployment
    1  metadata                       ObjectMeta
    2  spec                           DeploymentSpec
    3  status                         DeploymentStatus
message DeploymentSpec
    1  replicas                       *int32
    2  selector                       *LabelSelector          no-omitempty
    3  template                       PodTemplateSpec         no-omitempty
    4  strategy                       DeploymentStrategy
    5  minReadySeconds                int32
    6  revisionHistoryLimit           *int32
    7  paused                         bool
    9  progressDeadlineSeconds        *int32
message DeploymentStrategy
    1  type                           string
    2  rollingUpdate                  *RollingUpdateDeployment
message RollingUpdateDeployment
    1  maxUnavailable                 *IntOrString
    2  maxSurge                       *IntOrString
message DeploymentStatus
    1  observedGeneration             int64
    2  replicas                       int32
    3  updatedReplicas                int32
    4  availableReplicas              int32
    5  unavailableReplicas            int32
    7  readyReplicas                  int32
    8  collisionCount                 *int32
message ReplicaSet
    1  metadata                       ObjectMeta
    2  spec                           ReplicaSetSpec
    3  status                         ReplicaSetStatus
message ReplicaSetSpec
    1  replicas                       *int32
    2  selector                       *LabelSelector          no-omitempty
    3  template                       PodTemplateSpec
    4  minReadySeconds                int32
message ReplicaSetStatus
    1  replicas                       int32                   no-omitempty
    2  fullyLabeledReplicas           int32
    3  observedGeneration             int64
    4  readyReplicas                  int32
    5  availableReplicas              int32
"""

TABLES[RBAC] = """
message Role
    1  metadata                       ObjectMeta
    2  rules                          []PolicyRule            no-omitempty
message ClusterRole
    1  metadata                       ObjectMeta
    2  rules                          []PolicyRule            no-omitempty
    3  aggregationRule                *AggregationRule
message RoleBinding
    1  metadata                       ObjectMeta
    2  subjects                       []Subject
    3  roleRef                        RoleRef                 no-omitempty
message ClusterRoleBinding
    1  metadata                       ObjectMeta
    2  subjects                       []Subject
    3  roleRef                        RoleRef                 no-omitempty
message PolicyRule
    1  verbs                          []string                no-omitempty
    2  apiGroups                      []string
    3  resources                      []string
    4  resourceNames                  []string
    5  nonResourceURLs                []string
message Subject
    1  kind                           string                  no-omitempty
    2  apiGroup                       string
    3  name                           string                  no-omitempty
    4  namespace                      string
message RoleRef
    1  apiGroup                       string                  no-omitempty
    2  kind                           string                  no-omitempty
    3  name                           string                  no-omitempty
message AggregationRule
    1  clusterRoleSelectors           []LabelSelector
"""

TABLES[AUTHN] = """
message TokenRequest
    1  metadata                       ObjectMeta
    2  spec                           TokenRequestSpec        no-omitempty
    3  status                         TokenRequestStatus
message TokenRequestSpec
    1  audiences                      []string                no-omitempty
    3  boundObjectRef                 *BoundObjectReference   no-omitempty
    4  expirationSeconds              *int64                  no-omitempty
message BoundObjectReference
    1  kind                           string
    2  apiVersion                     string
    3  name                           string
    4  uid                            string
message TokenRequestStatus
    1  token                          string                  no-omitempty
    2  expirationTimestamp            Time                    no-omitempty
"""
