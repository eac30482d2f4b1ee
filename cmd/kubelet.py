#!/usr/bin/env python3
"""The kubelet alone, in the foreground: ``cmd/kubelet.py [--state-dir DIR] [-v]``."""

import sys

from minikube_py.cli.main import cli

if __name__ == "__main__":
    cli(args=[*sys.argv[1:], "kubelet"], prog_name="kubelet")
