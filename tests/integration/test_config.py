"""`tinyagent config`: the encrypted credentials file against `openssl enc`, wrong keys,
damaged files, validation, and nothing secret on the terminal."""

import json
import os
import stat
import subprocess

import pytest

from conftest import BINARY, wait_for

# The seed's key and IV, ASCII "01234567890123456789012345678901" / "0123456789012345".
SEED_KEY = b"01234567890123456789012345678901".hex()
SEED_IV = b"0123456789012345".hex()
PASSWORD = "correct-horse-battery-staple"
CONFIG = {"xmpp_client": {"client_jid": "rpi-17@xmpp.example.com", "client_password": PASSWORD,
                          "cpanel_jid": "panel@xmpp.example.com", "rpi_unique_id": "rpi-17"}}


def run(*args):
    return subprocess.run([BINARY] + list(args), capture_output=True, text=True, timeout=10)


def openssl(data, *args, key=SEED_KEY, iv=SEED_IV):
    return subprocess.run(["openssl", "enc", "-aes-256-cbc", "-K", key, "-iv", iv] + list(args),
                          input=data, capture_output=True, timeout=10)


def openssl_encrypt(path, document, key=SEED_KEY, iv=SEED_IV):
    text = document if isinstance(document, bytes) else json.dumps(document).encode()
    r = openssl(text, key=key, iv=iv)
    assert r.returncode == 0, r.stderr
    with open(path, "wb") as f:
        f.write(r.stdout)
    return path


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def assert_one_line_without_secrets(r, *fragments):
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("tinyagent: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert PASSWORD not in r.stderr


# A key file that is not the seed's. Fixed, not random: about 1 wrong key in
# 256 decrypts to a valid PKCS#7 padding (a different refusal, tested below);
# with these, CONFIG's padding comes out wrong both ways (asserted where used).
OTHER_KEY, OTHER_IV = "a5" * 32, "5a" * 16
# A wrong key whose decryption of CONFIG (encrypted with the seed's key) ends
# in a valid padding byte 0x01: the 644th of sha256("wrong key %d").
LUCKY_KEY = "3375974b99d351ca356223e98e425b7d5662837008d1aa86fd575ee4269f1fcb"


def key_file(path, key=OTHER_KEY, iv=OTHER_IV):
    write(path, "key=%s\niv=%s\n" % (key, iv))
    return key, iv


def padding_is_valid(ciphertext, key, iv):
    plain = openssl(ciphertext, "-d", "-nopad", key=key, iv=iv).stdout
    return 1 <= plain[-1] <= 16 and plain.endswith(bytes([plain[-1]]) * plain[-1])


def test_what_the_agent_encrypts_openssl_decrypts_and_the_file_is_0600(root):
    plain = write(os.path.join(root, "plain.json"), json.dumps(CONFIG, indent=2))
    out = os.path.join(root, "config_file.bin")
    r = run("config", "encrypt", "--in", plain, "--out", out)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    with open(out, "rb") as f:
        d = openssl(f.read(), "-d")
    assert d.returncode == 0, d.stderr
    with open(plain, "rb") as f:
        assert d.stdout == f.read()


def test_an_existing_world_readable_file_becomes_0600(root):
    out = write(os.path.join(root, "config_file.bin"), "old")
    os.chmod(out, 0o644)
    r = run("config", "encrypt", "--in", write(os.path.join(root, "plain.json"), json.dumps(CONFIG)), "--out", out)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_what_openssl_encrypts_the_agent_decrypts_with_the_password_masked(root):
    path = openssl_encrypt(os.path.join(root, "config_file.bin"), CONFIG)
    r = run("config", "decrypt", "--in", path)
    assert r.returncode == 0, r.stderr
    assert PASSWORD not in r.stdout + r.stderr
    shown = json.loads(r.stdout)
    assert shown["xmpp_client"]["client_password"] == "********"
    assert {k: v for k, v in shown["xmpp_client"].items() if k != "client_password"} == \
        {k: v for k, v in CONFIG["xmpp_client"].items() if k != "client_password"}


def test_show_secrets_shows_the_password(root):
    path = openssl_encrypt(os.path.join(root, "config_file.bin"), CONFIG)
    r = run("config", "decrypt", "--in", path, "--show-secrets")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == CONFIG


def test_a_key_file_round_trips_through_openssl(root):
    key, iv = key_file(os.path.join(root, "key"))
    plain = write(os.path.join(root, "plain.json"), json.dumps(CONFIG))
    out = os.path.join(root, "config_file.bin")
    assert run("config", "encrypt", "--in", plain, "--out", out, "--key-file", os.path.join(root, "key")).returncode == 0
    with open(out, "rb") as f:
        ciphertext = f.read()
    assert openssl(ciphertext, "-d", key=key, iv=iv).stdout == json.dumps(CONFIG).encode()
    assert openssl(ciphertext, "-d").returncode != 0, "not the seed's key"
    # And the reverse: openssl with the key file's values, the agent with the key file.
    openssl_encrypt(out, CONFIG, key=key, iv=iv)
    r = run("config", "decrypt", "--in", out, "--show-secrets", "--key-file", os.path.join(root, "key"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == CONFIG


def test_the_output_of_openssl_dash_p_is_a_key_file(root):
    p = subprocess.run(["openssl", "enc", "-aes-256-cbc", "-P", "-pbkdf2", "-k", "not-the-seed"],
                       capture_output=True, text=True, check=True)
    write(os.path.join(root, "key"), p.stdout)
    values = dict(line.replace(" ", "").split("=") for line in p.stdout.splitlines())
    path = openssl_encrypt(os.path.join(root, "config_file.bin"), CONFIG, key=values["key"], iv=values["iv"])
    r = run("config", "decrypt", "--in", path, "--show-secrets", "--key-file", os.path.join(root, "key"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == CONFIG


def test_a_wrong_key_exits_65_without_printing_secrets(root):
    key, iv = key_file(os.path.join(root, "key"))
    path = openssl_encrypt(os.path.join(root, "config_file.bin"), CONFIG)
    with open(path, "rb") as f:
        assert not padding_is_valid(f.read(), key, iv)
    for extra in ([], ["--show-secrets"]):
        r = run("config", "decrypt", "--in", path, "--key-file", os.path.join(root, "key"), *extra)
        assert r.returncode == 65
        assert_one_line_without_secrets(r, path, "wrong key or corrupted file")
        assert key not in r.stderr and iv not in r.stderr
    # The other way round: encrypted with the key file, read with the seed's key.
    openssl_encrypt(path, CONFIG, key=key, iv=iv)
    r = run("config", "check", "--root", root_with(root, path))
    assert r.returncode == 65
    assert_one_line_without_secrets(r, "wrong key or corrupted file")


def test_a_wrong_key_whose_padding_comes_out_valid_is_refused_as_a_wrong_key(root):
    key, iv = key_file(os.path.join(root, "key"), key=LUCKY_KEY, iv=SEED_IV)
    path = openssl_encrypt(os.path.join(root, "config_file.bin"), CONFIG)
    with open(path, "rb") as f:
        assert padding_is_valid(f.read(), key, iv), "LUCKY_KEY no longer tests this case"
    for args in (("decrypt", "--in", path, "--show-secrets"), ("check", "--root", root_with(root, path))):
        r = run("config", *args, "--key-file", os.path.join(root, "key"))
        assert r.returncode == 65
        assert_one_line_without_secrets(r, "wrong key or corrupted file (decrypts to noise")
        assert key not in r.stderr


def root_with(folder, encrypted):
    """A device root whose cfg/config_file.bin is `encrypted`."""
    os.makedirs(os.path.join(folder, "device", "cfg"), exist_ok=True)
    with open(encrypted, "rb") as f, open(os.path.join(folder, "device", "cfg", "config_file.bin"), "wb") as g:
        g.write(f.read())
    return os.path.join(folder, "device")


@pytest.mark.parametrize("cut,why", [(50, "not a whole number of 16-byte AES blocks"),
                                     (64, "wrong key or corrupted file"),
                                     (0, "empty file")])
def test_a_truncated_file_exits_65(root, cut, why):
    path = openssl_encrypt(os.path.join(root, "config_file.bin"), CONFIG)
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:cut])
    r = run("config", "decrypt", "--in", path)
    assert r.returncode == 65
    assert_one_line_without_secrets(r, why)
    r = run("config", "check", "--root", root_with(root, path))
    assert r.returncode == 65
    assert_one_line_without_secrets(r, why)


def test_a_damaged_block_in_the_middle_exits_65(root):
    path = openssl_encrypt(os.path.join(root, "config_file.bin"), CONFIG)
    with open(path, "r+b") as f:
        f.seek(20)
        byte = f.read(1)
        f.seek(20)
        f.write(bytes([byte[0] ^ 0xFF]))
    r = run("config", "check", "--root", root_with(root, path))
    assert r.returncode == 65
    assert_one_line_without_secrets(r, "corrupted file")


def test_decrypted_text_that_is_not_json_exits_65(root):
    path = openssl_encrypt(os.path.join(root, "config_file.bin"), b"password=" + PASSWORD.encode())
    for args in (("decrypt", "--in", path), ("check", "--root", root_with(root, path))):
        r = run("config", *args)
        assert r.returncode == 65
        assert_one_line_without_secrets(r, "not JSON")


@pytest.mark.parametrize("field", ["client_jid", "client_password", "cpanel_jid", "rpi_unique_id"])
def test_every_missing_field_exits_65(root, field):
    document = json.loads(json.dumps(CONFIG))
    del document["xmpp_client"][field]
    path = openssl_encrypt(os.path.join(root, "config_file.bin"), document)
    r = run("config", "check", "--root", root_with(root, path))
    assert r.returncode == 65
    assert_one_line_without_secrets(r, "xmpp_client.%s: missing" % field)
    # And encrypt refuses to make such a file.
    plain = write(os.path.join(root, "plain.json"), json.dumps(document))
    out = os.path.join(root, "new.bin")
    r = run("config", "encrypt", "--in", plain, "--out", out)
    assert r.returncode == 65
    assert_one_line_without_secrets(r, plain, "xmpp_client.%s: missing" % field)
    assert not os.path.exists(out)


@pytest.mark.parametrize("change,why", [
    ({"client_jid": "no-at-sign.example.com"}, "xmpp_client.client_jid: not local@domain[/resource]"),
    ({"cpanel_jid": "panel@exa mple.com"}, "xmpp_client.cpanel_jid: contains a space"),
    ({"port": 70000}, "xmpp_client.port: must be 1...65535"),
    ({"tls": "maybe"}, "xmpp_client.tls: must be"),
    ({"prot": 5222}, "xmpp_client.prot: unknown key"),
])
def test_invalid_values_are_refused(root, change, why):
    document = json.loads(json.dumps(CONFIG))
    document["xmpp_client"].update(change)
    r = run("config", "encrypt", "--in", write(os.path.join(root, "plain.json"), json.dumps(document)),
            "--out", os.path.join(root, "out.bin"))
    assert r.returncode == 65
    assert_one_line_without_secrets(r, why)


def test_check_on_a_root_prints_one_line_without_the_password(root):
    document = json.loads(json.dumps(CONFIG))
    document["xmpp_client"].update({"host": "127.0.0.1", "port": 15222, "tls": "disabled"})
    os.makedirs(os.path.join(root, "cfg"))
    openssl_encrypt(os.path.join(root, "cfg", "config_file.bin"), document)
    r = run("config", "check", "--root", root)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ("config ok: client rpi-17@xmpp.example.com, panel panel@xmpp.example.com, device rpi-17, "
                        "server 127.0.0.1:15222, TLS disabled\n")
    assert PASSWORD not in r.stdout + r.stderr


def expected_mac():
    """The MAC the agent should pick, by the same rule: physical interfaces
    (a sysfs `device` link), eth0, then wlan0, then the others by name."""
    with open("/proc/net/dev") as f:
        names = [line.split(":")[0].strip() for line in f.readlines()[2:] if ":" in line]
    ordered = [n for n in ("eth0", "wlan0") if n in names] + sorted(n for n in names if n not in ("eth0", "wlan0"))
    for name in ordered:
        base = os.path.join("/sys/class/net", name)
        if not os.path.exists(os.path.join(base, "device")):
            continue
        try:
            with open(os.path.join(base, "address")) as f:
                address = f.read().strip().lower()
        except OSError:
            continue
        if len(address) == 17 and address != "00:00:00:00:00:00":
            return address
    return None


@pytest.mark.parametrize("unique_id", ["mac-address", ""])
def test_check_resolves_the_mac_address(root, unique_id):
    document = json.loads(json.dumps(CONFIG))
    document["xmpp_client"]["rpi_unique_id"] = unique_id
    os.makedirs(os.path.join(root, "cfg"))
    openssl_encrypt(os.path.join(root, "cfg", "config_file.bin"), document)
    r = run("config", "check", "--root", root)
    mac = expected_mac()
    if mac is None:
        assert r.returncode == 65
        assert_one_line_without_secrets(r, "no physical network interface")
    else:
        assert r.returncode == 0, r.stderr
        assert "device %s (MAC address)" % mac in r.stdout


def test_missing_input_files_exit_66(root):
    r = run("config", "check", "--root", root)
    assert r.returncode == 66
    assert_one_line_without_secrets(r, os.path.join(root, "cfg", "config_file.bin"), "No such file")
    path = openssl_encrypt(os.path.join(root, "config_file.bin"), CONFIG)
    r = run("config", "decrypt", "--in", path, "--key-file", os.path.join(root, "no-key"))
    assert r.returncode == 66
    assert_one_line_without_secrets(r, "no-key")


def test_a_malformed_key_file_exits_65_without_quoting_it(root):
    write(os.path.join(root, "key"), "key=%s\n" % ("ab" * 32))
    path = openssl_encrypt(os.path.join(root, "config_file.bin"), CONFIG)
    r = run("config", "decrypt", "--in", path, "--key-file", os.path.join(root, "key"))
    assert r.returncode == 65
    assert_one_line_without_secrets(r, "no iv= line")
    assert "ab" * 32 not in r.stderr


@pytest.mark.parametrize("args,message", [
    (("config",), "config needs encrypt, decrypt or check"),
    (("config", "show"), "unknown config command show"),
    (("config", "encrypt", "--in", "x"), "config encrypt needs --out"),
    (("config", "decrypt"), "config decrypt needs --in"),
    (("config", "check", "--show-secrets"), "unknown option --show-secrets"),
])
def test_config_usage_errors_exit_64(args, message):
    r = run(*args)
    assert r.returncode == 64
    assert r.stderr.splitlines()[0] == "tinyagent: " + message


def fleet_key(root, mode=0o600):
    """ROOT/cfg/key, the fleet's key, and the config encrypted with it."""
    os.makedirs(os.path.join(root, "cfg"), exist_ok=True)
    path = os.path.join(root, "cfg", "key")
    key, iv = key_file(path)
    os.chmod(path, mode)
    openssl_encrypt(os.path.join(root, "cfg", "config_file.bin"), CONFIG, key=key, iv=iv)
    return path


def test_config_check_decrypts_with_the_fleet_key_in_cfg(root):
    fleet_key(root)
    r = run("config", "check", "--root", root)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("config ok: client rpi-17@xmpp.example.com")


@pytest.mark.parametrize("mode", [0o640, 0o604])
def test_a_fleet_key_others_can_read_is_refused_with_what_to_do(root, mode):
    path = fleet_key(root, mode)
    r = run("config", "check", "--root", root)
    assert r.returncode == 65
    assert_one_line_without_secrets(r, path, "mode 0%o" % mode, "chmod 0600")
    assert OTHER_KEY not in r.stderr


def test_a_fleet_key_that_is_not_roots_is_refused(root):
    path = fleet_key(root)
    os.chown(path, 1, 1)
    r = run("config", "check", "--root", root)
    assert r.returncode == 65
    assert_one_line_without_secrets(r, path, "uid 1", "must be root's")


def test_the_agent_reads_a_config_encrypted_with_the_fleet_key(agents, root):
    fleet_key(root)
    agent = agents().start()
    wait_for(lambda: "XMPP control channel: rpi-17@xmpp.example.com" in agent.log(), what="the control channel's config")


def test_the_agent_refuses_a_readable_fleet_key_and_keeps_watching(agents, root):
    fleet_key(root, 0o644)
    agent = agents().start()
    wait_for(lambda: "XMPP control channel off" in agent.log(), what="the control channel's refusal")
    line = [l for l in agent.log().splitlines() if "XMPP control channel off" in l][0]
    assert line.split(" ", 2)[2].startswith("./cfg/key: key file not trusted (uid 0, gid 0, mode 0644"), line
    assert OTHER_KEY not in agent.log()


def test_a_config_the_fleet_key_does_not_open_names_the_key_it_was_tried_with(root):
    key = fleet_key(root)
    openssl_encrypt(os.path.join(root, "cfg", "config_file.bin"), CONFIG)  # the seed's key, not the fleet's
    r = run("config", "check", "--root", root)
    assert r.returncode == 65
    assert_one_line_without_secrets(r, "wrong key or corrupted file", "decrypted with the fleet key %s" % key)
