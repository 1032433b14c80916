"""buildroot/provision on a fake Raspbian root filesystem: each seed step, owners and
modes by number, secrets never in clear, idempotence, dry run, refusals."""

import json
import os
import stat
import subprocess
import sys
import uuid

import pytest

from provisioning import (BASE, CONFIG, OVERLAY, PASSWORD, REPO, UNIT, XMPP_PASSWORD, listing,
                          make_fake_rootfs, provision_args, requires_root, run_provision)

sys.path.insert(0, os.path.join(REPO, "tests", "update"))
from signing import make_key, sign  # noqa: E402

pytestmark = requires_root
# DESIGN.md §3: (uid, gid, mode) of each folder; pi is 1000:1000 on the fake card.
LAYOUT = {"": (0, 0, 0o755), "certs": (0, 0, 0o755), "cfg": (0, 0, 0o700), "wdog": (0, 1000, 0o710),
          "downloads": (0, 0, 0o700), "SmartMeter": (1000, 1000, 0o755), "bin": (0, 0, 0o755),
          "logs": (0, 1000, 0o750)}


@pytest.fixture
def rootfs(tmp_path):
    return make_fake_rootfs(str(tmp_path / "sdcard"))


@pytest.fixture
def openssl_log(tmp_path):
    """A PATH with an `openssl` that records its arguments, then runs the real one."""
    bindir = tmp_path / "shim"
    bindir.mkdir()
    log = tmp_path / "openssl-argv.log"
    shim = bindir / "openssl"
    shim.write_text('#!/bin/sh\nprintf "%%s\\n" "$*" >> "%s"\nexec /usr/bin/openssl "$@"\n' % log)
    shim.chmod(0o755)
    return {"PATH": "%s:%s" % (bindir, os.environ["PATH"]), "log": log}


@pytest.fixture
def provisioned(rootfs, inputs, host_agent, openssl_log):
    result = run_provision(provision_args(rootfs, inputs, agent=host_agent),
                           env={"PATH": openssl_log["PATH"]})
    assert result.returncode == 0, result.stderr.decode()
    return {"root": rootfs, "result": result, "inputs": inputs, "agent": host_agent,
            "openssl_log": openssl_log["log"]}


def at(root, rel):
    return os.path.join(root, rel)


def ids_and_mode(path):
    st = os.lstat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()


def shadow_hash(root, user="pi"):
    for line in read(at(root, "etc/shadow"), "r").splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return fields[1]
    raise AssertionError("no %s in etc/shadow" % user)


def test_pi_gets_a_sha512_crypt_hash_that_verifies_against_the_password(provisioned):
    root = provisioned["root"]
    hashed = shadow_hash(root)
    assert hashed.startswith("$6$")
    salt = hashed.split("$")[2]
    again = subprocess.run(["openssl", "passwd", "-6", "-salt", salt, "-stdin"], input=PASSWORD + "\n",
                           stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.strip()
    assert again == hashed
    assert shadow_hash(root, "root") == "*", "other users' lines stay as they were"
    assert ids_and_mode(at(root, "etc/shadow")) == (0, 42, 0o640), "shadow keeps its owner and mode"


def test_two_cards_get_different_salts(provisioned, inputs, tmp_path):
    other = make_fake_rootfs(str(tmp_path / "card2"))
    assert run_provision(provision_args(other, inputs, libs=False, python=False)).returncode == 0
    assert shadow_hash(other) != shadow_hash(provisioned["root"])


def test_no_password_is_ever_in_clear_in_output_files_or_command_lines(provisioned):
    result, root = provisioned["result"], provisioned["root"]
    for secret in (PASSWORD.encode(), XMPP_PASSWORD.encode()):
        assert secret not in result.stdout + result.stderr
        for dirpath, _, filenames in os.walk(root):
            for name in filenames:
                path = os.path.join(dirpath, name)
                if not os.path.islink(path):
                    assert secret not in read(path), "%s holds a password in clear" % path
    argv = read(str(provisioned["openssl_log"]), "r")
    assert "passwd -6 -stdin" in argv, "the hash was made by the openssl on PATH"
    assert PASSWORD not in argv


def test_libraries_go_to_usr_local_lib_with_their_links(provisioned):
    root = provisioned["root"]
    lib = at(root, "usr/local/lib")
    assert read(at(lib, "libexample.so.1.2.3")) == b"\x7fELF not really"
    assert os.readlink(at(lib, "libexample.so.1")) == "libexample.so.1.2.3"
    assert ids_and_mode(at(lib, "libexample.so.1.2.3")) == (0, 0, 0o644)
    assert "chroot %s /sbin/ldconfig" % root in provisioned["result"].stdout.decode()


def test_python_packages_go_to_pis_user_site_packages_of_the_cards_python(provisioned):
    root = provisioned["root"]
    site = at(root, "home/pi/.local/lib/python3.7/site-packages")
    assert read(at(site, "meterlib/__init__.py"), "r") == "VALUE = 42\n"
    assert os.path.isfile(at(site, "meterlib-1.0.dist-info/METADATA"))
    for rel in ("home/pi", "home/pi/.local", "home/pi/.local/lib/python3.7", "home/pi/.local/lib/python3.7/site-packages/meterlib"):
        assert ids_and_mode(at(root, rel))[:2] == (1000, 1000), rel
    assert not os.path.exists(at(root, "home/pi/.local/lib/python2.7"))


def test_the_folders_of_spec_3_are_roots_but_smartmeter_and_the_app_group_reads_wdog_and_logs(provisioned):
    root = provisioned["root"]
    for name, expected in LAYOUT.items():
        assert ids_and_mode(at(root, BASE + ("/" + name if name else ""))) == expected, name
    leftovers = [os.path.join(d, n) for d, _, names in os.walk(root) for n in names if n == ".keep"]
    assert leftovers == [], "the overlay's .keep placeholders stay in git"


def test_the_ca_certificate_the_smartmeter_code_the_agent_and_the_helper_are_in_place(provisioned):
    root, inputs = provisioned["root"], provisioned["inputs"]
    assert read(at(root, BASE + "/certs/cacert.pem")) == read(inputs["cacert"])
    assert ids_and_mode(at(root, BASE + "/certs/cacert.pem")) == (0, 0, 0o644)
    sm = at(root, BASE + "/SmartMeter")
    assert read(at(sm, "meter_reader.py")) == read(os.path.join(inputs["smartmeter"], "meter_reader.py"))
    assert ids_and_mode(at(sm, "meter_reader.py")) == (1000, 1000, 0o755)
    assert ids_and_mode(at(sm, "models/digits.txt")) == (1000, 1000, 0o644)
    assert ids_and_mode(at(sm, "models")) == (1000, 1000, 0o755)
    assert not os.path.exists(at(sm, "__pycache__")), "host bytecode is left out"
    assert read(at(root, "usr/lib/tinyagent/tinyagent")) == read(provisioned["agent"])
    assert ids_and_mode(at(root, "usr/lib/tinyagent/tinyagent")) == (0, 0, 0o755), "run by root: root's, like the .deb"
    for helper_program in ("tinyagent-link", "tinyagent-fetch"):
        beside = os.path.join(os.path.dirname(provisioned["agent"]), helper_program)
        assert read(at(root, "usr/lib/tinyagent/" + helper_program)) == read(beside)
        assert ids_and_mode(at(root, "usr/lib/tinyagent/" + helper_program)) == (0, 0, 0o755)
    helper = os.path.join(os.path.dirname(OVERLAY), os.pardir, "helpers", "python", "tinyagent_heartbeat.py")
    assert read(at(root, BASE + "/bin/tinyagent_heartbeat.py")) == read(helper)
    assert os.readlink(at(root, "usr/bin/tinyagent")) == "/usr/lib/tinyagent/tinyagent"
    assert os.readlink(at(root, BASE + "/bin/tinyagent")) == "/usr/lib/tinyagent/tinyagent"


def test_the_config_is_encrypted_and_decrypts_back_to_the_input(provisioned):
    root, agent = provisioned["root"], provisioned["agent"]
    path = at(root, BASE + "/cfg/config_file.bin")
    assert ids_and_mode(path) == (0, 0, 0o600)
    out = subprocess.run([agent, "config", "decrypt", "--in", path, "--show-secrets"],
                         stdout=subprocess.PIPE, check=True).stdout
    assert json.loads(out.decode()) == CONFIG
    check = subprocess.run([agent, "config", "check", "--root", at(root, BASE)], stdout=subprocess.PIPE)
    assert check.returncode == 0 and XMPP_PASSWORD.encode() not in check.stdout


def test_the_service_is_installed_and_enabled(provisioned):
    root = provisioned["root"]
    assert read(at(root, "lib/systemd/system/tinyagent.service")) == read(UNIT)
    wants = at(root, "etc/systemd/system/multi-user.target.wants/tinyagent.service")
    assert os.readlink(wants) == "/lib/systemd/system/tinyagent.service"


def test_a_second_run_changes_nothing_and_says_unchanged(provisioned):
    root, inputs = provisioned["root"], provisioned["inputs"]
    before = listing(root)
    result = run_provision(provision_args(root, inputs, agent=provisioned["agent"]))
    assert result.returncode == 0, result.stderr.decode()
    assert listing(root) == before
    lines = result.stdout.decode().splitlines()
    assert lines[-1] == "provision: unchanged"
    assert all(line.endswith(": unchanged") for line in lines[1:-1]), lines


def test_a_changed_input_or_a_wrong_mode_is_the_only_thing_rewritten(provisioned, tmp_path):
    root, inputs = provisioned["root"], provisioned["inputs"]
    os.chmod(at(root, BASE + "/cfg"), 0o755)
    other_ca = tmp_path / "other.pem"
    other_ca.write_bytes(read(inputs["cacert"]) + b"\n")
    inputs = dict(inputs, cacert=str(other_ca))
    result = run_provision(provision_args(root, inputs, agent=provisioned["agent"]))
    assert result.returncode == 0, result.stderr.decode()
    actions = [line.strip() for line in result.stdout.decode().splitlines() if line.startswith("  ")]
    assert actions == ["chmod 0700 %s/cfg" % BASE,
                       "write %s/certs/cacert.pem (0644 0:0)" % BASE], actions
    hashed = shadow_hash(root)
    again = run_provision(provision_args(root, inputs, agent=provisioned["agent"]), password="another one")
    assert again.returncode == 0 and shadow_hash(root) != hashed
    assert "write etc/shadow" in again.stdout.decode()


def test_a_dry_run_lists_every_action_and_changes_nothing(rootfs, inputs, host_agent):
    before = listing(rootfs)
    result = run_provision(provision_args(rootfs, inputs, "--dry-run", agent=host_agent))
    assert result.returncode == 0, result.stderr.decode()
    assert listing(rootfs) == before
    out = result.stdout.decode()
    for expected in ("would write etc/shadow", "would mkdir %s/cfg (0700 0:0)" % BASE,
                     "would write usr/local/lib/libexample.so.1.2.3",
                     "would write home/pi/.local/lib/python3.7/site-packages/meterlib/__init__.py",
                     "would write %s/certs/cacert.pem" % BASE, "would write %s/SmartMeter/meter_reader.py" % BASE,
                     "would write usr/lib/tinyagent/tinyagent (0755 0:0)",
                     "would write %s/cfg/config_file.bin (0600 0:0)" % BASE,
                     "would link etc/systemd/system/multi-user.target.wants/tinyagent.service"):
        assert expected in out, expected
    assert out.splitlines()[-1].endswith("changes would be made")
    assert PASSWORD not in out


def test_the_helper_user_is_added_once_as_a_system_user_without_a_shell(provisioned):
    root = provisioned["root"]
    lines = [l for l in read(at(root, "etc/passwd"), "r").splitlines() if l.startswith("tinyagent:")]
    assert len(lines) == 1
    name, _, uid, gid, _, home, shell = lines[0].split(":")
    assert 100 <= int(uid) < 1000 and uid == gid and (home, shell) == ("/nonexistent", "/usr/sbin/nologin")
    assert "tinyagent:x:%s:" % gid in read(at(root, "etc/group"), "r")
    assert read(at(root, "etc/shadow"), "r").count("\ntinyagent:!:") == 1
    assert ids_and_mode(at(root, "etc/shadow")) == (0, 42, 0o640)


def test_an_older_cards_pi_owned_tree_is_given_back_to_root(provisioned):
    """Re-provisioning a card laid out by an older version (every folder and file pi's)
    leaves DESIGN.md §3's owners: pi could otherwise edit root's state or settings."""
    root, base = provisioned["root"], at(provisioned["root"], BASE)
    os.symlink("/etc/passwd", at(base, "logs/evil.log"))
    with open(at(base, "wdog/registry.json"), "w") as f:
        f.write("{}")
    with open(at(base, "logs/ocr.log"), "w") as f:
        f.write("x")
    for dirpath, dirnames, filenames in os.walk(base):
        for name in [""] + dirnames + filenames:
            os.chown(os.path.join(dirpath, name), 1000, 1000, follow_symlinks=False)
    result = run_provision(provision_args(root, provisioned["inputs"], agent=provisioned["agent"]))
    assert result.returncode == 0, result.stderr.decode()
    for name, expected in LAYOUT.items():
        assert ids_and_mode(at(base, name) if name else base) == expected, name
    assert ids_and_mode(at(base, "wdog/registry.json")) == (0, 0, 0o600)
    assert ids_and_mode(at(base, "logs/ocr.log")) == (0, 1000, 0o640)
    assert ids_and_mode(at(base, "cfg/config_file.bin")) == (0, 0, 0o600)
    assert os.lstat(at(base, "logs/evil.log")).st_uid == 0 and ids_and_mode("/etc/passwd") == (0, 0, 0o644)


def test_a_dry_run_after_a_run_says_unchanged(provisioned):
    result = run_provision(provision_args(provisioned["root"], provisioned["inputs"], "--dry-run",
                                          agent=provisioned["agent"]))
    assert result.returncode == 0 and result.stdout.decode().splitlines()[-1] == "provision: unchanged"


@pytest.mark.parametrize("layout", ["empty", "no shadow", "a file"])
def test_a_folder_that_is_not_a_root_filesystem_is_refused(tmp_path, inputs, layout):
    root = tmp_path / "notroot"
    if layout == "a file":
        root.write_text("not a folder")
    elif layout == "empty":
        root.mkdir()
    else:
        make_fake_rootfs(str(root))  # no pi user at all is a Bookworm card: test_bookworm_card.py
        (root / "etc" / "shadow").unlink()
    before = listing(str(root)) if root.is_dir() else None
    result = run_provision(provision_args(root, inputs))
    err = result.stderr.decode().strip()
    assert result.returncode == 65
    assert len(err.splitlines()) == 1 and "is not a root filesystem" in err, err
    assert result.stdout == b""
    if before is not None:
        assert listing(str(root)) == before


def test_the_running_systems_root_is_refused(inputs):
    result = run_provision(provision_args("/", inputs, "--dry-run"))
    assert result.returncode == 65 and "refusing to provision /" in result.stderr.decode()


@pytest.mark.parametrize("missing", ["--rootfs", "--password-stdin", "--config", "--cacert", "--smartmeter"])
def test_a_missing_required_argument_is_a_usage_error(rootfs, inputs, missing):
    args = provision_args(rootfs, inputs, libs=False, python=False)
    i = args.index(missing)
    del args[i:i + (1 if missing == "--password-stdin" else 2)]
    before = listing(rootfs)
    result = run_provision(args)
    assert result.returncode == 64
    assert missing in result.stderr.decode() and len(result.stderr.decode().strip().splitlines()) == 1
    assert listing(rootfs) == before


def test_agent_and_deb_together_are_a_usage_error(rootfs, inputs, host_agent):
    result = run_provision(provision_args(rootfs, inputs, "--deb", host_agent, "--agent", host_agent))
    assert result.returncode == 64


def test_bad_inputs_are_refused_before_anything_changes(rootfs, inputs, tmp_path):
    before = listing(rootfs)
    bad_config = tmp_path / "bad.json"
    bad_config.write_text(json.dumps({"xmpp_client": {"client_jid": "no domain"}}))
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    cases = [(dict(inputs, config=str(bad_config)), None, 65, "--config"),
             (dict(inputs, cacert=str(not_pem)), None, 65, "not a PEM certificate"),
             (dict(inputs, smartmeter=str(tmp_path / "nowhere")), None, 66, "no such folder"),
             (inputs, "", 65, "no password on stdin")]
    for case_inputs, password, code, message in cases:
        kw = {} if password is None else {"password": None}
        result = run_provision(provision_args(rootfs, case_inputs), **kw)
        assert (result.returncode, message in result.stderr.decode()) == (code, True), result.stderr
        assert XMPP_PASSWORD.encode() not in result.stderr
    assert listing(rootfs) == before


def test_absolute_links_in_the_card_resolve_inside_it_never_on_this_machine(tmp_path, inputs):
    root = make_fake_rootfs(str(tmp_path / "sdcard"))
    elsewhere = "/provision-test-%s" % uuid.uuid4().hex  # must never appear on this machine
    os.makedirs(at(root, elsewhere.lstrip("/") + "/home"))
    os.symlink(elsewhere + "/home", at(root, "home"))
    result = run_provision(provision_args(root, inputs, libs=False, python=False))
    assert result.returncode == 0, result.stderr.decode()
    assert not os.path.exists(elsewhere)
    assert os.path.isfile(at(root, elsewhere.lstrip("/") + "/home/pi/technospurs/cfg/config_file.bin"))
    assert os.path.islink(at(root, "home")), "the card's own link is left as it is"


def test_without_an_agent_or_a_deb_provision_refuses_and_changes_nothing(rootfs, inputs):
    before = listing(rootfs)
    result = run_provision(provision_args(rootfs, inputs, agent=None))
    assert result.returncode == 64
    err = result.stderr.decode()
    assert "--agent BIN or --deb FILE is needed" in err and len(err.strip().splitlines()) == 1
    assert listing(rootfs) == before
    assert not os.path.lexists(at(rootfs, "etc/systemd/system/multi-user.target.wants/tinyagent.service"))


FLEET_KEY = "key=%s\niv=%s\n" % ("c3" * 32, "3c" * 16)


def fleet_key(tmp_path, text=FLEET_KEY):
    path = tmp_path / "fleet.key"
    path.write_text(text)
    return str(path)


def test_a_fleet_key_is_installed_root_0600_and_the_config_is_encrypted_with_it(rootfs, inputs, host_agent, tmp_path):
    key = fleet_key(tmp_path)
    result = run_provision(provision_args(rootfs, inputs, "--key-file", key))
    assert result.returncode == 0, result.stderr.decode()
    installed = at(rootfs, BASE + "/cfg/key")
    assert read(installed, "r") == FLEET_KEY and ids_and_mode(installed) == (0, 0, 0o600)
    config = at(rootfs, BASE + "/cfg/config_file.bin")
    plain = subprocess.run(["openssl", "enc", "-d", "-aes-256-cbc", "-K", "c3" * 32, "-iv", "3c" * 16, "-in", config],
                           capture_output=True)
    assert plain.returncode == 0 and json.loads(plain.stdout) == CONFIG
    # What the agent on the card does: no --key-file, cfg/key found next to the config.
    check = subprocess.run([host_agent, "config", "decrypt", "--in", config], capture_output=True)
    assert check.returncode == 65, "the seed's key decrypted a config meant for the fleet key"
    assert "c3" * 32 not in result.stdout.decode() + result.stderr.decode()
    again = run_provision(provision_args(rootfs, inputs, "--key-file", key))
    assert again.returncode == 0 and again.stdout.decode().splitlines()[-1] == "provision: unchanged"


def test_the_agent_on_the_card_reads_the_config_with_the_installed_fleet_key(rootfs, inputs, host_agent, tmp_path):
    document = json.loads(json.dumps(CONFIG))
    document["xmpp_client"]["rpi_unique_id"] = "rpi-17"  # `config check` resolves a MAC address on this machine
    plain = tmp_path / "plain17.json"
    plain.write_text(json.dumps(document))
    result = run_provision(provision_args(rootfs, dict(inputs, config=str(plain)), "--key-file", fleet_key(tmp_path)))
    assert result.returncode == 0, result.stderr.decode()
    check = subprocess.run([host_agent, "config", "check", "--root", at(rootfs, BASE)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "device rpi-17" in check.stdout


def test_a_card_with_a_fleet_key_is_not_given_a_config_under_the_seeds_key(provisioned):
    root = provisioned["root"]
    with open(at(root, BASE + "/cfg/key"), "w") as f:
        f.write(FLEET_KEY)
    before = listing(root)
    result = run_provision(provision_args(root, provisioned["inputs"]))
    assert result.returncode == 65
    assert "pass it again as --key-file" in result.stderr.decode()
    assert listing(root) == before


def test_a_malformed_key_file_is_refused_by_name_without_quoting_it(rootfs, inputs, tmp_path):
    key = fleet_key(tmp_path, "key=%s\n" % ("c3" * 32))
    before = listing(rootfs)
    result = run_provision(provision_args(rootfs, inputs, "--key-file", key))
    assert result.returncode == 65
    err = result.stderr.decode()
    assert err.splitlines()[-1].startswith("provision: --key-file: ") and "no iv= line" in err and "c3" * 32 not in err
    assert listing(rootfs) == before


def test_python_version_puts_the_packages_where_the_cards_python_3_5_looks(rootfs, inputs):
    os.makedirs(at(rootfs, "usr/local/lib/python3.5"))
    result = run_provision(provision_args(rootfs, inputs, "--python-version", "3.5"))
    assert result.returncode == 0, result.stderr.decode()
    assert read(at(rootfs, "home/pi/.local/lib/python3.5/site-packages/meterlib/__init__.py"), "r") == "VALUE = 42\n"
    assert ids_and_mode(at(rootfs, "home/pi/.local/lib/python3.5/site-packages"))[:2] == (1000, 1000)
    assert not os.path.exists(at(rootfs, "home/pi/.local/lib/python3.7"))
    assert "the card has no python" not in result.stderr.decode()


def test_python_version_for_a_python_the_card_lacks_warns_and_goes_on(rootfs, inputs):
    result = run_provision(provision_args(rootfs, inputs, "--python-version", "3.5"))
    assert result.returncode == 0, result.stderr.decode()
    assert "warning: the card has no python3.5" in result.stderr.decode()
    assert os.path.isdir(at(rootfs, "home/pi/.local/lib/python3.5/site-packages/meterlib"))


@pytest.mark.parametrize("extra,python,message", [
    (("--python-version", "3.5"), False, "--python-version needs --python-packages"),
    (("--python-version", "3"), True, "--python-version: not 3.N: 3"),
    (("--python-version", "../../etc"), True, "not 3.N"),
])
def test_a_bad_python_version_is_a_usage_error(rootfs, inputs, extra, python, message):
    result = run_provision(provision_args(rootfs, inputs, *extra, python=python))
    assert result.returncode == 64 and message in result.stderr.decode()


def test_update_keys_are_installed_roots_and_the_cards_agent_accepts_what_they_signed(rootfs, inputs, host_agent, tmp_path):
    fleet, public = make_key(str(tmp_path), "fleet")
    _, spare = make_key(str(tmp_path), "spare")
    result = run_provision(provision_args(rootfs, inputs, "--update-key", public, "--update-key", spare))
    assert result.returncode == 0, result.stderr.decode()
    assert "(06) CA certificate and update keys" in result.stdout.decode()
    keys = at(rootfs, BASE + "/certs/update-keys")
    assert ids_and_mode(keys) == (0, 0, 0o755)
    for name, source in (("fleet.pem", public), ("spare.pem", spare)):
        assert ids_and_mode(os.path.join(keys, name)) == (0, 0, 0o644) and read(os.path.join(keys, name)) == read(source)
    # The card's agent checks archives with them: signed by the fleet key, taken; unsigned, refused.
    archive = str(tmp_path / "x.zip")
    with open(archive, "wb") as f:
        f.write(b"PK\x05\x06" + bytes(18))  # an empty zip: only the signature is judged
    unsigned = subprocess.run([host_agent, "verify", archive, "--root", at(rootfs, BASE)], capture_output=True, text=True)
    assert unsigned.returncode == 65 and "unsigned" in unsigned.stdout + unsigned.stderr
    sign(fleet, archive)
    signed = subprocess.run([host_agent, "verify", archive, "--root", at(rootfs, BASE)], capture_output=True, text=True)
    assert signed.returncode == 0 and "signed by fleet.pem" in signed.stdout + signed.stderr, signed
    again = run_provision(provision_args(rootfs, inputs, "--update-key", public, "--update-key", spare))
    assert again.returncode == 0 and again.stdout.decode().splitlines()[-1] == "provision: unchanged"


@pytest.mark.parametrize("kind, message", [
    ("private", "not an EC P-256 public key"),
    ("rsa", "not an EC P-256 public key"),
    ("p384", "not an EC P-256 public key"),
    ("badname", "name it NAME.pem"),
])
def test_an_update_key_that_is_not_a_p256_public_key_in_pem_is_refused_by_name(rootfs, inputs, tmp_path, kind, message):
    path = str(tmp_path / ("fleet key.pem" if kind == "badname" else "fleet.pem"))
    secret = str(tmp_path / "secret.pem")
    if kind == "rsa":
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", secret], check=True, capture_output=True)
    else:
        curve = "secp384r1" if kind == "p384" else "prime256v1"
        subprocess.run(["openssl", "ecparam", "-name", curve, "-genkey", "-noout", "-out", secret], check=True)
    if kind == "private":
        os.rename(secret, path)
    else:
        subprocess.run(["openssl", "pkey", "-in", secret, "-pubout", "-out", path], check=True)
    before = listing(rootfs)
    result = run_provision(provision_args(rootfs, inputs, "--update-key", path))
    assert result.returncode == 65, result.stderr.decode()
    last = result.stderr.decode().splitlines()[-1]
    assert last.startswith("provision: --update-key %s: " % path) and message in last, last
    assert listing(rootfs) == before
