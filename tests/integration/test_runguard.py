"""The harness's bookkeeping of the processes a run starts (tests/runguard.py):
what the agent starts for a test, in sessions of their own and as other users,
is found through the test's scope and ended; a step (`runguard.py run`) ends
what it left behind however it ends, and fails if it succeeded anyway; `make
test`'s last step (`runguard.py check`) fails while a process of the run lives."""

import os
import secrets
import signal
import subprocess

import runguard
from conftest import FAST, PYTHON, REPO, pid_alive, uid_of, wait_for

RUNGUARD = os.path.join(REPO, "tests", "runguard.py")


def leftovers(stderr):
    """The pids runguard listed as left behind. (Their command lines are what
    they were when found: a forked shell may not have exec'd its command yet.)"""
    return [int(line.split()[1]) for line in stderr.splitlines() if line.strip().startswith("pid ")]


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read()


def test_a_process_the_agent_restarted_as_another_user_in_its_own_session_is_ended_with_the_test(agents):
    agent = agents(FAST).start()
    hung = agent.start_sample("as_nobody", "--hang-after", "1", user="nobody")
    wait_for(lambda: agent.process("as_nobody"), what="the sample to be known")
    restarted = wait_for(lambda: (lambda p: p if p and p["pid"] != hung.pid and p["state"] == "running" else None)(
        agent.process("as_nobody")), timeout=8, what="the agent's own instance")["pid"]
    assert uid_of(restarted) == 65534 and os.getsid(restarted) not in (os.getsid(0), agent.proc.pid)
    agent.stop(signal.SIGKILL)
    assert pid_alive(restarted), "the agent leaves its processes running when it dies"
    assert restarted in runguard.in_scope(runguard.current_scope())

    ended = runguard.end_scope(runguard.current_scope())

    assert any(line.startswith("pid %d uid 65534 " % restarted) for line in ended), ended
    assert not pid_alive(restarted)


def test_a_step_that_succeeds_but_leaves_a_process_behind_fails_naming_it_and_it_is_killed():
    r = subprocess.run([PYTHON, RUNGUARD, "run", "--", "sh", "-c", "setsid sleep 60 & exit 0"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, r.stderr
    assert "1 process(es) of `sh -c setsid sleep 60 & exit 0` outlived it" in r.stderr
    (left,) = leftovers(r.stderr)
    assert not pid_alive(left)


def test_a_step_interrupted_by_ctrl_c_keeps_its_failure_and_leaves_nothing():
    # Ctrl-C: SIGINT to the terminal's foreground group, the guard and its child alike.
    guard = subprocess.Popen([PYTHON, RUNGUARD, "run", "--", "sh", "-c", "setsid sleep 60 & echo $!; sleep 60"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    escaped = int(guard.stdout.readline())
    wait_for(lambda: cmdline(escaped) == b"sleep\0" b"60\0" and os.getsid(escaped) == escaped,
             what="the background process in a session of its own")
    os.killpg(guard.pid, signal.SIGINT)
    _, stderr = guard.communicate(timeout=30)
    assert guard.returncode == 130, stderr  # the shell's status, killed by SIGINT
    assert leftovers(stderr) == [escaped]
    assert not pid_alive(escaped)


def test_the_last_step_of_make_test_fails_while_a_process_of_the_run_lives():
    run = "it-" + secrets.token_hex(4)
    survivor = subprocess.Popen(["setsid", "sleep", "60"], env=dict(os.environ, **{runguard.RUN: run}))
    wait_for(lambda: survivor.pid in runguard.of_run(run), what="the survivor to carry the run's mark")
    env = dict(os.environ, **{runguard.RUN: run})

    r = subprocess.run([PYTHON, RUNGUARD, "check"], env=env, capture_output=True, text=True, timeout=30)

    assert r.returncode == 1 and "pid %d uid 0 " % survivor.pid in r.stderr, r.stderr
    survivor.wait(timeout=5)
    r = subprocess.run([PYTHON, RUNGUARD, "check"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "no process of run %s is left" % run in r.stdout, r.stderr
