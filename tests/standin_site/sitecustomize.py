"""Puts tests/canary_standin.py in place of the analysis API in a process the tests start (the
detached canary watcher), as the `standin` fixture does in the test process; see that module."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import canary_standin

sys.modules["releases_cli.serving.accesslog"] = canary_standin.accesslog
sys.modules["releases_cli.serving.analysis"] = canary_standin.analysis
