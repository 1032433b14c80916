"""The self-update's guard (`tinyagent-guard`, the unit's ExecStartPre=, run as root before
every start: DESIGN.md §6) against the app user. pi owns /home/pi, so it can rename
/home/pi/technospurs away and lay its own tree there, with a trial state of its choosing; it
cannot write the programs' folder (root's). Whatever pi writes, the guard renames nothing and
runs nothing; beside it, root's own trial state still rolls a failed update back."""

import os
import subprocess

import pytest


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GUARD = os.path.join(REPO, "buildroot", "overlay", "usr", "lib", "tinyagent", "tinyagent-guard")
PROGRAMS = ("tinyagent", "tinyagent-link", "tinyagent-fetch")


def root_file(path, text, mode=0o755, owner=(0, 0)):
    with open(path, "w") as f:
        f.write(text)
    os.chown(path, *owner)
    os.chmod(path, mode)


@pytest.fixture
def install(tmp_path):
    """Root's programs folder: the new programs ("new") on trial, the previous ones as .prev,
    and the guard beside them."""
    folder = tmp_path / "lib"
    folder.mkdir()
    os.chmod(str(folder), 0o755)
    for name in PROGRAMS:
        root_file(str(folder / name), "new")
        root_file(str(folder / (name + ".prev")), "old")
    with open(GUARD) as f:
        root_file(str(folder / "tinyagent-guard"), f.read())
    return str(folder)


def trial(root, owner=(0, 0), wdog_owner=(0, 0), state="failed", mode=0o600, starts=5):
    wdog = os.path.join(root, "wdog")
    os.makedirs(wdog, exist_ok=True)
    os.chown(root, *wdog_owner)
    os.chown(wdog, *wdog_owner)
    os.chmod(wdog, 0o710)
    path = os.path.join(wdog, "self-update.trial")
    root_file(path, "format=1\nstate=%s\nstarts=%d\nversion=9.9.9\norigin=update 1\n" % (state, starts), mode=mode, owner=owner)
    return path


def guard(install, root):
    return subprocess.run(["sh", os.path.join(install, "tinyagent-guard"), root], capture_output=True, text=True, timeout=10)


def programs(install):
    return {n: open(os.path.join(install, n)).read() for n in PROGRAMS}


def test_a_trial_state_the_app_user_wrote_makes_the_guard_do_nothing(install, tmp_path, make_user):
    pi = make_user()
    ids = (pi.pw_uid, pi.pw_gid)
    # pi's own tree where the agent's was (pi may rename folders in its home).
    planted = str(tmp_path / "planted")
    os.makedirs(planted)
    trial(planted, owner=ids, wdog_owner=ids)
    r = guard(install, planted)
    assert r.returncode == 0 and "is not root's alone: ignored" in r.stderr, r.stderr
    assert programs(install) == {n: "new" for n in PROGRAMS}
    # A root-owned wdog/ with pi's file in it (or one others may write) is not believed either.
    for owner, mode in ((ids, 0o600), ((0, 0), 0o666)):
        root = str(tmp_path / ("mixed-%d-%o" % (owner[0], mode)))
        os.makedirs(root)
        trial(root, owner=owner, mode=mode)
        assert "ignored" in guard(install, root).stderr
        assert programs(install) == {n: "new" for n in PROGRAMS}
    # A link to root's real trial state is not followed.
    real = trial(str(tmp_path / "real"))
    linked = str(tmp_path / "linked")
    os.makedirs(os.path.join(linked, "wdog"))
    os.chmod(os.path.join(linked, "wdog"), 0o710)
    os.symlink(real, os.path.join(linked, "wdog", "self-update.trial"))
    assert "ignored" in guard(install, linked).stderr
    assert programs(install) == {n: "new" for n in PROGRAMS}


def test_the_app_user_cannot_plant_programs_beside_the_agent(install, make_user):
    pi = make_user()
    for name in ("tinyagent.next", "tinyagent.prev", "tinyagent-guard"):
        r = subprocess.run(["/usr/bin/python3", "-c", "open(%r, 'w').write('pi')" % os.path.join(install, name)],
                           user=pi.pw_uid, group=pi.pw_gid, capture_output=True, text=True)
        assert r.returncode != 0 and "Permission denied" in r.stderr, (name, r.stderr)
    assert open(os.path.join(install, "tinyagent.prev")).read() == "old"


def test_values_in_the_trial_state_are_never_run_nor_used_as_paths(install, tmp_path):
    root = str(tmp_path / "root")
    os.makedirs(root)
    path = trial(root, state="trial")
    marker = str(tmp_path / "ran")
    root_file(path, "format=1\nstate=trial\nstarts=$(touch %s)\nversion=`touch %s`\norigin=;touch %s\n" % (marker, marker, marker),
              mode=0o600)
    for _ in range(4):
        assert guard(install, root).returncode == 0
    assert not os.path.exists(marker)
    # A count that is not a number counts from 0: two more starts, then the rollback.
    assert programs(install) == {n: "old" for n in PROGRAMS}


def test_roots_own_failed_trial_state_rolls_the_programs_back_once(install, tmp_path):
    root = str(tmp_path / "root")
    os.makedirs(root)
    path = trial(root, state="failed")
    r = guard(install, root)
    assert r.returncode == 0 and "the previous ones are back" in r.stderr, r.stderr
    assert programs(install) == {n: "old" for n in PROGRAMS}
    assert all(open(os.path.join(install, n + ".failed")).read() == "new" for n in PROGRAMS)
    assert not any(os.path.exists(os.path.join(install, n + ".prev")) for n in PROGRAMS)
    assert "state=rolledback" in open(path).read()
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert guard(install, root).returncode == 0
    assert programs(install) == {n: "old" for n in PROGRAMS}, "a rolled-back trial is left alone"


def test_a_swap_cut_short_between_the_agents_renames_is_finished_and_counted_as_a_trial_start(install, tmp_path):
    """The agent renames itself last: killed between `tinyagent → .prev` and `.next →
    tinyagent`, it leaves no tinyagent. The guard finishes that rename, so the next start runs
    the new agent on trial instead of failing three times into a rollback."""
    root = str(tmp_path / "root")
    os.makedirs(root)
    path = trial(root, state="trial", starts=0)
    os.rename(os.path.join(install, "tinyagent"), os.path.join(install, "tinyagent.next"))
    r = guard(install, root)
    assert r.returncode == 0 and "finished the swap" in r.stderr, r.stderr
    assert programs(install) == {n: "new" for n in PROGRAMS}
    assert not os.path.exists(os.path.join(install, "tinyagent.next"))
    assert all(os.path.exists(os.path.join(install, n + ".prev")) for n in PROGRAMS), "the previous ones stay for a rollback"
    assert "state=trial" in open(path).read() and "starts=1" in open(path).read()
