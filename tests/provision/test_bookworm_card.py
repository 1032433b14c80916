"""buildroot/provision on a Bookworm card: no `pi` user in the image (Raspberry Pi OS makes
its first user at first boot, from userconf.txt on the boot partition, or asks on the
console). provision makes pi itself (uid 1000, the uid the first-boot service names) and,
with --boot, writes userconf.txt so the first boot neither asks nor renames anyone.
Before: such a card was refused as "not a root filesystem", and --boot did not exist."""

import os
import subprocess

from provisioning import BASE, PASSWORD, listing, make_fake_rootfs, provision_args, requires_root, run_provision

pytestmark = requires_root


def bookworm_card(tmp_path, first_user=None):
    """A fake root like a Bookworm image: no pi (or FIRST_USER at uid 1000), the groups a
    first user joins, and an empty boot partition."""
    root = make_fake_rootfs(str(tmp_path / "sdcard"), python="python3.11")
    users = "root:x:0:0:root:/root:/bin/bash\n"
    if first_user:
        users += "%s:x:1000:1000::/home/%s:/bin/bash\n" % (first_user, first_user)
    with open(os.path.join(root, "etc/passwd"), "w") as f:
        f.write(users)
    with open(os.path.join(root, "etc/group"), "w") as f:
        f.write("root:x:0:\nshadow:x:42:\nvideo:x:44:\ngpio:x:997:someone\n")
    with open(os.path.join(root, "etc/shadow"), "w") as f:
        f.write("root:*:19000:0:99999:7:::\n")
    boot = tmp_path / "boot"
    boot.mkdir()
    return root, str(boot)


def lines_of(root, rel):
    with open(os.path.join(root, rel)) as f:
        return f.read().splitlines()


def verifies(hashed, password):
    salt = hashed.split("$")[2]
    out = subprocess.run(["openssl", "passwd", "-6", "-salt", salt, "-stdin"], input=password + "\n",
                         capture_output=True, text=True, check=True)
    return out.stdout.strip() == hashed


def test_a_card_without_pi_gets_pi_as_uid_1000_its_password_and_userconf_txt(tmp_path, inputs, host_agent):
    root, boot = bookworm_card(tmp_path)
    result = run_provision(provision_args(root, inputs, "--boot", boot, agent=host_agent))
    assert result.returncode == 0, result.stderr.decode()
    assert "pi:x:1000:1000:,,,:/home/pi:/bin/bash" in lines_of(root, "etc/passwd")
    groups = lines_of(root, "etc/group")
    assert "pi:x:1000:" in groups and "video:x:44:pi" in groups and "gpio:x:997:someone,pi" in groups
    shadow = [line.split(":") for line in lines_of(root, "etc/shadow") if line.startswith("pi:")]
    assert len(shadow) == 1 and verifies(shadow[0][1], PASSWORD)
    st = os.stat(os.path.join(root, "etc/shadow"))
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, 42, 0o640), "shadow keeps its owner and mode"
    for d, ids in (("home/pi", (1000, 1000)), (BASE + "/SmartMeter", (1000, 1000)), (BASE + "/logs", (0, 1000))):
        st = os.stat(os.path.join(root, d))
        assert (st.st_uid, st.st_gid) == ids, d
    with open(os.path.join(boot, "userconf.txt")) as f:
        assert f.read() == "pi:%s\n" % shadow[0][1], "the first boot keeps pi and the same password"
    assert PASSWORD not in result.stdout.decode() + result.stderr.decode()


def test_a_second_run_on_that_card_changes_nothing(tmp_path, inputs, host_agent):
    root, boot = bookworm_card(tmp_path)
    args = provision_args(root, inputs, "--boot", boot, agent=host_agent)
    assert run_provision(args).returncode == 0
    before = (listing(root), listing(boot))
    again = run_provision(args)
    assert again.returncode == 0, again.stderr.decode()
    assert again.stdout.decode().splitlines()[-1] == "provision: unchanged"
    assert (listing(root), listing(boot)) == before


def test_a_card_whose_uid_1000_is_someone_else_is_refused_untouched(tmp_path, inputs, host_agent):
    root, boot = bookworm_card(tmp_path, first_user="rpi-first-boot-wizard")
    before = listing(root)
    result = run_provision(provision_args(root, inputs, "--boot", boot, agent=host_agent))
    err = result.stderr.decode()
    assert result.returncode == 65 and "uid 1000 is rpi-first-boot-wizard's" in err, err
    assert listing(root) == before and os.listdir(boot) == []


def test_a_card_with_pi_gets_userconf_txt_with_pis_hash(tmp_path, inputs, host_agent):
    root = make_fake_rootfs(str(tmp_path / "sdcard"))
    boot = tmp_path / "boot"
    boot.mkdir()
    result = run_provision(provision_args(root, inputs, "--boot", str(boot), agent=host_agent))
    assert result.returncode == 0, result.stderr.decode()
    hashed = [line.split(":")[1] for line in lines_of(root, "etc/shadow") if line.startswith("pi:")][0]
    assert (boot / "userconf.txt").read_text() == "pi:%s\n" % hashed and verifies(hashed, PASSWORD)
    assert lines_of(root, "etc/passwd").count("pi:x:1000:1000:,,,:/home/pi:/bin/bash") == 1
