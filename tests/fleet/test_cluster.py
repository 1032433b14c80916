"""The small fleet test (`make test`): 20 real agents against a two-node
ejabberd cluster on loopback; one node is killed and every device must be
back on the other one and answering within a bound.

The bound: a device whose node died retries once, on the other server in its
list, after a delay drawn from 0 to `reconnect_spread_ms` (20 s here, as a
fleet of this size would be configured); its login then takes well under a
second even on this shared 2-core machine (~10-30 ms of server CPU each, 10
or so devices at ~1/s). So 20 s + 10 s for logins, detection and the panel's
view = 30 s; the `status` round that follows gets 15 s (~0.4 s measured for
200 devices on prosody).
"""

import ipaddress
import os
import time

import pytest

from fleet_harness import harness
from ejabberd import EjabberdCluster, ensure_installed
from fleet import PANEL, Fleet, established_to
from panel import Panel

DEVICES = 20
SPREAD_S = 20
BOUND_S = SPREAD_S + 10


@pytest.fixture
def cluster(pki, root):
    """The cluster's folders under the test's root (0755: ejabberd runs as its own user)."""
    ensure_installed()
    c = EjabberdCluster(os.path.join(root, "ejabberd"), pki)
    try:
        c.start()
        yield c
    finally:
        c.close()


def test_a_killed_cluster_node_sends_every_device_to_the_other_and_all_answer_within_the_bound(cluster, pki, root):
    assert cluster.listeners(), "the cluster listens somewhere"
    assert all(ipaddress.ip_address(addr).is_loopback for addr, _ in cluster.listeners()), cluster.listeners()
    for i in range(DEVICES):
        cluster.register("device-%03d" % i, "secret-%03d" % i)
    cluster.register("panel", "panel-secret")
    ports = cluster.ports
    # Half the devices list node 1 first, half node 2 (the link starts from a
    # random one of its list anyway).
    fleet = Fleet(os.path.join(root, "fleet"), harness.BINARY, pki, DEVICES,
                  servers=lambda i: ["127.0.0.1:%d" % p for p in (ports if i % 2 else ports[::-1])],
                  settings={"reconnect_spread_ms": SPREAD_S * 1000})
    panel = Panel(PANEL, "panel-secret", "127.0.0.1", ports[1], pki.ca_cert).start()
    try:
        fleet.watch(panel)
        fleet.start()
        fleet.subscribe(timeout=60)
        on_first = established_to(ports[0])
        assert 0 < on_first < DEVICES, "devices spread over both nodes (%d on node 1)" % on_first
        answers = fleet.status_round(1, timeout=15)
        assert sorted(answers) == sorted(d.jid for d in fleet.devices)

        killed = time.monotonic()
        cluster.kill(0)
        # Every device on node 2 (and the panel), then all of them answering.
        deadline = killed + BOUND_S
        while established_to(ports[1]) < DEVICES + 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        took = time.monotonic() - killed
        assert established_to(ports[1]) == DEVICES + 1, "devices + panel on node 2 %.1f s after the kill" % took
        assert len(fleet.online_since(killed)) >= on_first, "each moved device's presence reached the panel"
        print("fleet: %d of %d devices were on the killed node; all %d on the other one after %.1f s (bound %d s)"
              % (on_first, DEVICES, DEVICES, took, BOUND_S))
        answers = fleet.status_round(2, timeout=15)
        assert sorted(answers) == sorted(d.jid for d in fleet.devices), "all answer"
        assert all(len(a) == 1 for a in answers.values()), "exactly once each: %s" % answers
        # The loss is one line in each moved device's log, whatever the retries.
        lost = [len([l for l in d.log().splitlines() if "xmpp: offline: connection lost" in l]) for d in fleet.devices]
        assert sorted(lost) == [0] * (DEVICES - on_first) + [1] * on_first, lost
    finally:
        fleet.stop()
        panel.stop()
