"""The registry in wdog/ survives an agent restart (DESIGN.md §4)."""

import json
import os
import signal

from conftest import FAST, pid_alive, wait_for


def test_live_processes_are_readopted_and_dead_ones_restarted_after_an_agent_restart(agents, root):
    first = agents(FAST).start()
    keeper = first.start_sample("keeper")
    goner = first.start_sample("goner")
    wait_for(lambda: first.process("keeper") and first.process("goner"), what="both samples")
    assert first.stop() == 0
    registry = json.load(open(os.path.join(root, "wdog", "registry.json")))
    assert sorted(p["name"] for p in registry["processes"]) == ["goner", "keeper"]
    assert oct(os.stat(os.path.join(root, "wdog", "registry.json")).st_mode & 0o777) == "0o600"

    os.killpg(goner.pid, signal.SIGKILL)  # dies while no agent watches
    goner.wait()
    assert pid_alive(keeper.pid), "stopping the agent leaves the processes running"

    second = agents(FAST)
    second.port = first.port
    second.start()
    assert second.process("keeper")["pid"] == keeper.pid
    assert second.process("keeper")["restarts"] == 0
    assert "re-adopted keeper (pid %d)" % keeper.pid in second.log()
    restarted = wait_for(lambda: (lambda p: p if p["pid"] != goner.pid and p["state"] == "running" else None)(
        second.process("goner")), timeout=8, what="the dead process restarted")
    assert pid_alive(restarted["pid"])
    # And the re-adopted one is still watched: it keeps heartbeating.
    wait_for(lambda: second.process("keeper")["since_heartbeat_s"] is not None, what="keeper's heartbeat")
    assert second.process("keeper")["state"] == "running"


def test_after_a_reboot_a_pid_in_the_registry_is_not_readopted_nor_signalled(agents, root):
    first = agents(FAST).start()
    keeper = first.start_sample("keeper")
    wait_for(lambda: first.process("keeper"), what="the sample")
    assert first.stop() == 0
    path = os.path.join(root, "wdog", "registry.json")
    with open(path) as f:
        registry = json.load(f)
    with open("/proc/sys/kernel/random/boot_id") as f:
        assert registry["boot_id"] == f.read().strip()
    # As after a reboot: the registry names another boot, whatever runs under its pids now.
    registry["boot_id"] = "00000000-0000-4000-8000-000000000000"
    with open(path, "w") as f:
        json.dump(registry, f)

    second = agents(FAST)
    second.port = first.port
    second.start()

    log = second.log()
    assert "keeper (pid %d) is gone since the agent's last run" % keeper.pid in log
    assert "re-adopted keeper" not in log
    assert pid_alive(keeper.pid), "a pid from another boot is never signalled"
    restarted = wait_for(lambda: (lambda p: p if p["pid"] != keeper.pid else None)(second.process("keeper")),
                         what="keeper started anew with its run_command")
    assert pid_alive(restarted["pid"])


def test_a_damaged_registry_is_set_aside_and_the_agent_runs(agents, root):
    os.makedirs(os.path.join(root, "wdog"), exist_ok=True)
    # Root's 0600 file, as the agent writes it (any other is not trusted: tests/security).
    with open(os.open(os.path.join(root, "wdog", "registry.json"), os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write('{"format": 1, "processes": [')
    agent = agents(FAST).start()
    assert agent.status()["processes"] == []
    assert "registry.json: malformed" in agent.log()
    assert os.path.exists(os.path.join(root, "wdog", "registry.json.bad"))
