#!/usr/bin/env python3
"""A SAMP Web Profile client (what a web page is to the hub), standard library only.

  web_peer.py call NAME MTYPE K=V...   register through the Web Profile (http://localhost:21012/,
                                       Origin http://localhost:18090), callAndWait the client
                                       called NAME (timeout 20 s), print the response as JSON, or
                                       "fault: TEXT" when the hub refuses; unregister

The hub must accept registrations without asking (JSAMP -web:auth true, astropy_hub.py).
"""
import json
import sys
import xmlrpc.client


class Page(xmlrpc.client.Transport):
    """Sends the Origin header a browser sends."""

    def send_headers(self, connection, headers):
        connection.putheader("Origin", "http://localhost:18090")
        super().send_headers(connection, headers)


def main():
    cmd, name, mtype, pairs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    if cmd != "call":
        sys.exit(__doc__)
    hub = xmlrpc.client.ServerProxy("http://localhost:21012/", transport=Page())
    key = hub.samp.webhub.register({"samp.name": "web-page"})["samp.private-key"]
    try:
        hub.samp.webhub.declareMetadata(key, {"samp.name": "web-page"})
        target = next(
            (c for c in hub.samp.webhub.getRegisteredClients(key)
             if hub.samp.webhub.getMetadata(key, c).get("samp.name") == name),
            None,
        )
        if target is None:
            sys.exit("no client named %s" % name)
        params = dict(p.split("=", 1) for p in pairs)
        message = {"samp.mtype": mtype, "samp.params": params}
        try:
            print(json.dumps(hub.samp.webhub.callAndWait(key, target, message, "20")))
        except xmlrpc.client.Fault as fault:
            print("fault: %s" % fault.faultString)
    finally:
        hub.samp.webhub.unregister(key)


if __name__ == "__main__":
    main()
