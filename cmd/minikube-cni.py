#!/usr/bin/env python3
"""The CNI plugin: a container runtime runs it with CNI_* variables and JSON on stdin."""

import sys

from bridge.cni import main

if __name__ == "__main__":
    sys.exit(main())
