#!/usr/bin/env bash
# The main job: run the study note's nginx pod on this node and fetch its welcome page.
# (Run scripts/install.sh first.)
set -euo pipefail
cd "$(dirname "$0")/.."
mk=.venv/bin/minikube-py
$mk node run -f examples/nginx-pod.yml --timeout 600
$mk node pods
ip=$($mk node pods -o json | .venv/bin/python -c \
  'import json,sys; print([p for p in json.load(sys.stdin)["items"] if p["metadata"]["name"]=="nginx"][0]["status"]["podIP"])')
echo "==> curl http://$ip/"
curl -s --max-time 10 "http://$ip/" | grep -o '<title>.*</title>'
echo "==> try: $mk node inspect nginx"
