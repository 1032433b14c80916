"""`tinyagent panelmap` against the HTTPS fault server: the real binary, real TLS."""

import json
import os
import socket
import types

from .conftest import pki_module, run_agent
from faultserver import FaultServer


def panelmap(url, panel_id, cacert=None):
    args = ["panelmap", "--url", url, "--panel-id", panel_id]
    if cacert:
        args += ["--cacert", cacert]
    return run_agent(*args)


def test_a_panel_id_is_posted_as_json_and_the_body_printed(server, pki):
    r = panelmap(server.url(""), "meter-7", pki.ca_cert)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"panel_id": "meter-7", "panel": "panel-meter-7"}
    assert r.stderr == ""
    [request] = server.requests
    assert request["method"] == "POST" and request["path"] == "/api/panelmap"
    assert json.loads(request["body"]) == {"panel_id": "meter-7"}
    assert request["user_agent"].startswith("tinyagent/")
    assert request["host"] == "localhost:%d" % server.port


def test_a_url_that_already_names_the_endpoint_is_used_as_it_is(server, pki):
    r = panelmap(server.url("/api/panelmap"), "x", pki.ca_cert)
    assert r.returncode == 0, r.stderr
    assert [q["path"] for q in server.requests] == ["/api/panelmap"]


def test_a_panel_id_is_escaped_in_the_json(server, pki):
    r = panelmap(server.url("/"), 'quote"back\\slash', pki.ca_cert)
    assert r.returncode == 0, r.stderr
    assert json.loads(server.requests[0]["body"]) == {"panel_id": 'quote"back\\slash'}


def test_a_non_2xx_status_exits_69_with_the_status_line(server, pki):
    r = panelmap(server.url(""), "unknown", pki.ca_cert)
    assert r.returncode == 69
    assert r.stderr.strip() == "tinyagent: panelmap: HTTP 404 Not Found"
    assert json.loads(r.stdout) == {"error": "no such panel"}


def test_a_server_certificate_from_another_ca_is_not_trusted(server, pki):
    r = panelmap(server.url(""), "meter-7", pki.rogue_ca_cert)
    assert r.returncode == 69
    assert r.stderr.strip() == "tinyagent: panelmap: %s: certificate not trusted" % server.url("/api/panelmap")
    assert r.stdout == ""
    assert server.requests == []


def test_a_certificate_for_another_host_name_is_refused(pki, files, tmp_path):
    ca = pki_module.CertKey(pki.ca_cert, pki.ca_key)
    other = pki_module.make_server_cert(str(tmp_path), ca, "other", common_name="other.example",
                                        dns=("other.example",), ips=())
    with FaultServer(str(files), pki=types.SimpleNamespace(server_cert=other.cert, server_key=other.key)) as s:
        r = panelmap(s.url(""), "meter-7", pki.ca_cert)
        assert r.returncode == 69
        assert r.stderr.strip().endswith(": hostname mismatch")
        r = panelmap("https://127.0.0.1:%d" % s.port, "meter-7", pki.ca_cert)
        assert r.returncode == 69
        assert r.stderr.strip().endswith(": hostname mismatch")
        assert s.requests == []


def test_an_ip_address_matching_the_certificate_is_accepted(server, pki):
    r = panelmap("https://127.0.0.1:%d" % server.port, "meter-7", pki.ca_cert)
    assert r.returncode == 0, r.stderr


def test_plain_http_is_allowed_for_panelmap(plain_server):
    r = panelmap(plain_server.url(""), "meter-7", "/nonexistent/cacert.pem")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["panel"] == "panel-meter-7"


def test_plain_http_over_ipv6(files):
    with FaultServer(str(files), host="::1") as s:
        r = panelmap(s.url(""), "v6", "/nonexistent/cacert.pem")
        assert r.returncode == 0, r.stderr
        assert s.requests[0]["host"] == "[::1]:%d" % s.port


def test_a_missing_ca_file_exits_66(server):
    r = panelmap(server.url(""), "meter-7", "/nonexistent/cacert.pem")
    assert r.returncode == 66
    assert "cannot load the CA file" in r.stderr


def test_a_refused_connection_is_one_line(pki):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        r = panelmap("https://localhost:%d" % port, "meter-7", pki.ca_cert)
    assert r.returncode == 69
    assert r.stderr.strip().endswith(": connection refused")
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_urls_and_missing_options_are_usage_errors():
    r = panelmap("ftp://host/", "x")
    assert r.returncode == 64
    assert r.stderr.strip() == "tinyagent: panelmap: bad URL: unsupported scheme 'ftp' (http or https)"
    r = run_agent("panelmap", "--url", "https://host")
    assert r.returncode == 64
    assert "panelmap needs --panel-id" in r.stderr


def test_the_usage_text_lists_panelmap():
    r = run_agent("help")
    assert "panelmap --url URL --panel-id ID [--cacert FILE]" in r.stdout
    assert "/home/pi/technospurs/certs/cacert.pem" in r.stdout


def test_a_tls_1_3_only_server_is_told_apart_from_other_tls_failures(pki, files):
    """Caught: a server that speaks only TLS 1.3 read "TLS error -0x7780 (SSL - A fatal
    alert message was received from our peer)"; the agent speaks TLS 1.2 (mbedTLS).
    Beside it, the same server allowing 1.2 answers."""
    import ssl
    strict = FaultServer(str(files), pki=pki)
    strict.ssl_context.minimum_version = ssl.TLSVersion.TLSv1_3
    with strict:
        r = panelmap(strict.url(""), "meter-7", pki.ca_cert)
        assert r.returncode == 69
        assert r.stderr.strip() == ("tinyagent: panelmap: %s: the server refused TLS 1.2, the only version the agent "
                                    "speaks (a TLS 1.3-only server?)" % strict.url("/api/panelmap"))
    with FaultServer(str(files), pki=pki) as usual:
        assert panelmap(usual.url(""), "meter-7", pki.ca_cert).returncode == 0
