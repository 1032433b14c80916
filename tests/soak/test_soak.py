"""The soak test, short (CI: `make soak-ci`, SOAK_SECONDS, default 90 s, about 2 minutes in
all): the same load and pass criteria as `make soak` (tests/soak/soak.py)."""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from soak import Soak  # noqa: E402


def test_the_agent_holds_up_under_heartbeats_garbage_commands_updates_and_server_restarts():
    soak = Soak(float(os.environ.get("SOAK_SECONDS", 90)))
    try:
        figures = soak.run()
    finally:
        soak.close()
    print(json.dumps(figures, indent=1))
    assert not soak.failures, "\n".join(soak.failures)
    assert figures["updates_ok"] >= 2 and figures["prosody_restarts"] >= 1
