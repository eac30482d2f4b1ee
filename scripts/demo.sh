#!/usr/bin/env bash
# The main job: start the cluster, apply the study note's manifest (a Deployment running
# nginx and a Service), wait for the rollout, and fetch nginx's welcome page from the pod.
# (Run scripts/install.sh first. Stop everything with: .venv/bin/minikube-py down)
set -euo pipefail
cd "$(dirname "$0")/.."
mk=.venv/bin/minikube-py
if ! $mk status | grep -q running; then
  $mk up --detach
fi
echo "==> the note's manifest asks for nginx:latest: built once from Debian's packages (~30 s)"
$mk image pull nginx:latest
$mk apply -f examples/nginx-deployment.yml
echo "==> waiting for the rollout"
$mk rollout status deployment/nginx-deployment --timeout 10m
$mk get deployments,replicasets,pods -o wide
ip=$($mk get pods -l app=nginx -o json | .venv/bin/python -c \
  'import json,sys; print(json.load(sys.stdin)["items"][0]["status"]["podIP"])')
echo "==> curl http://$ip/"
curl -s --max-time 10 "http://$ip/" | grep -o '<title>.*</title>'
echo "==> next: $mk describe pods | kubectl --kubeconfig /var/lib/minikube-py/kubeconfig get pods"
