"""The fault server itself, checked with Python's own HTTPS client, so other tests can
rely on its routes."""

import http.client
import ssl

import pytest


@pytest.fixture
def served(server, files):
    data = bytes(range(256)) * 40  # 10240 bytes
    (files / "a.bin").write_bytes(data)
    return data


def get(server, pki, path, headers=None):
    ctx = ssl.create_default_context(cafile=pki.ca_cert)
    conn = http.client.HTTPSConnection("localhost", server.port, context=ctx, timeout=10)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    try:
        body = response.read()
    except http.client.IncompleteRead as e:
        body = e.partial
    conn.close()
    return response, body


def test_a_file_comes_with_validators_and_honours_ranges(server, pki, served):
    r, body = get(server, pki, "/file/a.bin")
    assert r.status == 200 and body == served
    etag, modified = r.getheader("ETag"), r.getheader("Last-Modified")
    assert etag.startswith('"') and modified.endswith("GMT")

    r, body = get(server, pki, "/file/a.bin", {"Range": "bytes=100-", "If-Range": etag})
    assert r.status == 206 and body == served[100:]
    assert r.getheader("Content-Range") == "bytes 100-10239/10240"

    r, body = get(server, pki, "/file/a.bin", {"Range": "bytes=100-", "If-Range": '"other"'})
    assert r.status == 200 and body == served

    r, _ = get(server, pki, "/file/a.bin", {"Range": "bytes=10240-"})
    assert r.status == 416 and r.getheader("Content-Range") == "bytes */10240"
    assert [q["range"] for q in server.requests] == [None, "bytes=100-", "bytes=100-", "bytes=10240-"]
    assert server.requests[1]["if_range"] == etag


def test_cut_once_cuts_only_the_first_request(server, pki, served):
    r, body = get(server, pki, "/cut-once/a.bin")
    assert body == served[:5120]
    r, body = get(server, pki, "/cut-once/a.bin", {"Range": "bytes=5120-"})
    assert r.status == 206 and body == served[5120:]


def test_chunked_and_faulty_routes(server, pki, served):
    r, body = get(server, pki, "/chunked/a.bin")
    assert r.getheader("Transfer-Encoding") == "chunked" and body == served
    _, body = get(server, pki, "/truncated/a.bin")
    assert body == served[:5120]
    r, _ = get(server, pki, "/redirect-loop")
    assert r.status == 302 and r.getheader("Location") == "/redirect-loop"
    r, _ = get(server, pki, "/redirect-http/a.bin")
    assert r.getheader("Location") == "http://localhost:%d/file/a.bin" % server.port
    r, _ = get(server, pki, "/status/503")
    assert r.status == 503
