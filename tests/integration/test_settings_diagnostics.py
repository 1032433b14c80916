"""Mistakes in cfg/agent.json and SmartMeter/tinyagent.json: said where
(line:column) and in which key, and a settings file with one slip keeps its
good settings (issue 13)."""

import os

from conftest import wait_for

# Hand-edited: a comma missing after heartbeat_timeout_ms, one too many at the end,
# a misspelt key.
SLIPPED = """{
  "heartbeat_timeout_ms": 1500
  "kill_grace_ms": 300,
  "restart_backof_initial_ms": 200,
}
"""


def test_a_settings_file_with_a_missing_and_a_trailing_comma_keeps_its_settings_and_says_where(agents):
    """Caught: one trailing comma dropped the whole file into the defaults (a 30 s
    deadline instead of 1.5 s), logged only as "unexpected byte at offset N"."""
    agent = agents(SLIPPED).start()
    hung = agent.start_sample("reader", "--hang-after", "0.5")
    wait_for(lambda: "reader (pid %d): no heartbeat for 1500 ms" % hung.pid in agent.log(), timeout=6,
             what="the file's 1.5 s deadline to apply")
    log = agent.log()
    assert 'cfg/agent.json: a "," is missing at 3:3 after "heartbeat_timeout_ms" (read as if it were there)' in log
    assert 'cfg/agent.json: a "," before the closing "}" at 5:1 (ignored)' in log
    assert ('cfg/agent.json: unknown key "restart_backof_initial_ms" at 4:3; '
            'did you mean "restart_backoff_initial_ms"?') in log


def test_a_broken_settings_file_keeps_what_came_before_the_break(agents):
    agent = agents('{"heartbeat_timeout_ms": 1500,\n "kill_grace_ms": 3OO}\n').start()
    assert ('cfg/agent.json: not valid JSON at 2:20 in "kill_grace_ms": expected "," or "}", found \'O\'; '
            'keeping the 1 setting before it, defaults for the rest') in agent.log()
    hung = agent.start_sample("reader", "--hang-after", "0.5")
    wait_for(lambda: "reader (pid %d): no heartbeat for 1500 ms" % hung.pid in agent.log(), timeout=6,
             what="the setting before the break to apply")


def test_a_broken_manifest_is_reported_with_line_and_column(agents):
    agent = agents()
    with open(os.path.join(agent.root, "SmartMeter", "tinyagent.json"), "w") as f:
        f.write('{"processes": [\n  {"name": "ocr", "run_command": "python3 ocr.py"}\n  {"name": "meter"}]}\n')
    agent.start()
    assert "tinyagent.json: not valid JSON at 3:3: unexpected '{'" in agent.log()
