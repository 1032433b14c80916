"""cross/deb/postinst on a fake root filesystem (DPKG_ROOT, as dpkg --root runs it): a
fresh tree and the upgrade of a card whose tree an older version gave to pi both end with
DESIGN.md §3's owners and modes, nothing followed through a link pi planted, and the helper user."""

import os
import stat
import subprocess

from provisioning import BASE, REPO, make_fake_rootfs, requires_root

pytestmark = requires_root
POSTINST = os.path.join(REPO, "cross", "deb", "postinst")
POSTRM = os.path.join(REPO, "cross", "deb", "postrm")
WANTS = "etc/systemd/system/multi-user.target.wants/tinyagent.service"
LAYOUT = {"": (0, 0, 0o755), "certs": (0, 0, 0o755), "cfg": (0, 0, 0o700), "wdog": (0, 1000, 0o710),
          "downloads": (0, 0, 0o700), "SmartMeter": (1000, 1000, 0o755), "bin": (0, 0, 0o755),
          "logs": (0, 1000, 0o750)}


def ids_and_mode(path):
    st = os.lstat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def postinst(root, *previous):
    """`postinst configure [VERSION]`: VERSION is the one configured before (none: a first install)."""
    return maintainer_script(POSTINST, root, "configure", *previous)


def maintainer_script(script, root, *args):
    return subprocess.run(["sh", script] + list(args), env=dict(os.environ, DPKG_ROOT=root),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)


def users(root):
    with open(os.path.join(root, "etc", "passwd")) as f:
        return [line.split(":")[0] for line in f]


def old_tree(root):
    """What tinyagent before DESIGN.md §3's owners left: everything pi's, plus what pi planted."""
    base = os.path.join(root, BASE)
    for d in LAYOUT:
        os.makedirs(os.path.join(base, d), exist_ok=True)
    files = {"cfg/config_file.bin": 0o600, "cfg/agent.json": 0o644, "wdog/registry.json": 0o644,
             "logs/tinyagent.log": 0o644, "logs/ocr.log": 0o666, "certs/cacert.pem": 0o664,
             "SmartMeter/app.py": 0o777}
    for rel, mode in files.items():
        with open(os.path.join(base, rel), "w") as f:
            f.write("x")
        os.chmod(os.path.join(base, rel), mode)
    os.mkfifo(os.path.join(base, "wdog", "registry.json.new"))
    os.symlink("/etc/passwd", os.path.join(base, "logs", "evil.log"))
    os.symlink("/etc", os.path.join(base, "downloads", "etc"))
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, "home")):
        for name in [""] + dirnames + filenames:
            os.chown(os.path.join(dirpath, name), 1000, 1000, follow_symlinks=False)
    return base


def test_an_upgrade_gives_an_old_pi_owned_tree_back_to_root_and_follows_no_link(tmp_path):
    root = make_fake_rootfs(str(tmp_path / "card"))
    base = old_tree(root)
    passwd = ids_and_mode("/etc/passwd")
    result = postinst(root)
    assert result.returncode == 0, result.stdout.decode()
    for name, expected in LAYOUT.items():
        assert ids_and_mode(os.path.join(base, name) if name else base) == expected, name
    expected_files = {"cfg/config_file.bin": (0, 0, 0o600), "cfg/agent.json": (0, 0, 0o600),
                      "wdog/registry.json": (0, 0, 0o600), "logs/tinyagent.log": (0, 1000, 0o640),
                      "logs/ocr.log": (0, 1000, 0o640), "certs/cacert.pem": (0, 0, 0o644),
                      "SmartMeter/app.py": (1000, 1000, 0o755)}
    for rel, expected in expected_files.items():
        assert ids_and_mode(os.path.join(base, rel)) == expected, rel
    assert ids_and_mode("/etc/passwd") == passwd and os.stat("/etc").st_uid == 0, "no link was followed"
    assert os.lstat(os.path.join(base, "logs", "evil.log")).st_uid == 0
    with open(os.path.join(root, "etc", "passwd")) as f:
        assert [l for l in f if l.startswith("tinyagent:")][0].rstrip().endswith(":/usr/sbin/nologin")


def test_a_second_run_changes_nothing_and_adds_no_second_helper_user(tmp_path):
    root = make_fake_rootfs(str(tmp_path / "card"))
    old_tree(root)
    assert postinst(root).returncode == 0
    with open(os.path.join(root, "etc", "passwd")) as f:
        before = f.read()
    assert postinst(root).returncode == 0
    with open(os.path.join(root, "etc", "passwd")) as f:
        assert f.read() == before


def test_the_first_install_enables_the_service_and_an_upgrade_keeps_it_disabled(tmp_path):
    root = make_fake_rootfs(str(tmp_path / "card"))
    link = os.path.join(root, WANTS)
    assert postinst(root).returncode == 0
    assert os.readlink(link) == "/lib/systemd/system/tinyagent.service"
    os.unlink(link)  # systemctl disable tinyagent
    assert postinst(root, "0.1.0").returncode == 0
    assert not os.path.lexists(link), "an upgrade re-enabled a service the operator disabled"


def test_removed_while_enabled_the_package_comes_back_enabled(tmp_path):
    root = make_fake_rootfs(str(tmp_path / "card"))
    link = os.path.join(root, WANTS)
    assert postinst(root).returncode == 0
    assert maintainer_script(POSTRM, root, "remove").returncode == 0
    assert not os.path.lexists(link)
    assert postinst(root, "0.1.0").returncode == 0
    assert os.path.islink(link)


def test_purge_removes_the_helper_user_the_package_made_and_the_agents_state(tmp_path):
    root = make_fake_rootfs(str(tmp_path / "card"))
    base = old_tree(root)
    assert postinst(root).returncode == 0 and "tinyagent" in users(root)
    for rel in ("logs/tinyagent.log", "logs/tinyagent.log.1", "downloads/update-3.zip"):
        with open(os.path.join(base, rel), "w") as f:
            f.write("x")
    result = maintainer_script(POSTRM, root, "purge")
    assert result.returncode == 0, result.stdout.decode()
    assert "tinyagent" not in users(root) and "pi" in users(root)
    for gone in ("wdog", "downloads", "logs/tinyagent.log", "logs/tinyagent.log.1"):
        assert not os.path.lexists(os.path.join(base, gone)), gone
    assert not os.path.lexists(os.path.join(root, "var/lib/tinyagent"))
    for kept in ("cfg/config_file.bin", "cfg/agent.json", "certs/cacert.pem", "SmartMeter/app.py", "logs/ocr.log"):
        assert os.path.isfile(os.path.join(base, kept)), kept


def test_purge_keeps_a_helper_user_that_was_there_before(tmp_path):
    root = make_fake_rootfs(str(tmp_path / "card"))
    with open(os.path.join(root, "etc", "passwd"), "a") as f:
        f.write("tinyagent:x:990:990::/nonexistent:/usr/sbin/nologin\n")
    assert postinst(root).returncode == 0
    assert maintainer_script(POSTRM, root, "purge").returncode == 0
    assert "tinyagent" in users(root)
