#!/usr/bin/env python3
"""An astropy SAMP client for vocloud's SAMP tests (the third-party side of each exchange).

  samp_peer.py receive OUT MTYPE...     register, subscribe, append each message as a JSON line
                                        to OUT (replying samp.ok to calls); run until SIGTERM
  samp_peer.py mute NAME MTYPE...       register as NAME, subscribe, never answer calls (a client
                                        that hangs; prints "got MTYPE" for each); run until SIGTERM
  samp_peer.py clients                  print the samp.name (or id) of every registered client
  samp_peer.py subscribed NAME MTYPE    exit 0 when the client called NAME is subscribed to MTYPE
  samp_peer.py call NAME MTYPE K=V...   call_and_wait the client called NAME; print the response
  samp_peer.py notify NAME MTYPE K=V... notify the client called NAME

Finds the hub through SAMP_HUB like any client. Values are strings (timeouts too: JSAMP hubs
refuse XML-RPC ints).
"""
import json
import signal
import sys
import threading
import warnings

warnings.simplefilter("ignore")
try:
    from astropy import samp
except ImportError:
    from pyvo import samp
samp.conf.use_internet = False


def connect(name, callable_=True):
    c = samp.SAMPIntegratedClient(name=name, addr="127.0.0.1", callable=callable_)
    c.connect()
    return c


def disconnect(c):
    # callable=False clients skip unregister in disconnect(): do it by hand.
    try:
        c.hub.unregister(c.get_private_key())
    except Exception:
        pass
    try:
        c.hub.disconnect()
    except Exception:
        pass


def find(c, name):
    for cid in c.get_registered_clients():
        if c.get_metadata(cid).get("samp.name") == name:
            return cid
    sys.exit("no client named %s" % name)


def params(pairs):
    out = {}
    for p in pairs:
        k, v = p.split("=", 1)
        out[k] = json.loads(v) if v.startswith("{") else v
    return out


def main():
    cmd = sys.argv[1]
    if cmd == "receive":
        out, mtypes = sys.argv[2], sys.argv[3:]
        c = connect("astropy-receiver")
        lock = threading.Lock()

        def record(private_key, sender_id, msg_id, mtype, params, extra):
            # The sender may have unregistered already (vocloud samp send does at once), so
            # its metadata is not looked up here.
            with lock, open(out, "a") as f:
                f.write(json.dumps({"mtype": mtype, "sender": sender_id, "params": params}) + "\n")
            if msg_id is not None:
                c.reply(msg_id, {"samp.status": "samp.ok", "samp.result": {}})

        for m in mtypes:
            c.bind_receive_notification(m, lambda k, s, mt, p, e: record(k, s, None, mt, p, e))
            c.bind_receive_call(m, lambda k, s, mid, mt, p, e: record(k, s, mid, mt, p, e))
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
        print("ready", flush=True)
        stop.wait()
        c.disconnect()
    elif cmd == "mute":
        name, mtypes = sys.argv[2], sys.argv[3:]
        c = connect(name)
        for m in mtypes:
            c.bind_receive_call(m, lambda k, s, mid, mt, p, e: print("got " + mt, flush=True))
            c.bind_receive_notification(m, lambda *a: None)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
        print("ready", flush=True)
        stop.wait()
        c.disconnect()
    elif cmd == "clients":
        c = connect("astropy-lister", callable_=False)
        for cid in c.get_registered_clients():
            print(c.get_metadata(cid).get("samp.name") or cid)
        disconnect(c)
    elif cmd == "subscribed":
        name, mtype = sys.argv[2], sys.argv[3]
        c = connect("astropy-lister", callable_=False)
        try:
            ids = [i for i in c.get_subscribed_clients(mtype) if c.get_metadata(i).get("samp.name") == name]
        finally:
            disconnect(c)
        sys.exit(0 if ids else 1)
    elif cmd in ("call", "notify"):
        name, mtype = sys.argv[2], sys.argv[3]
        c = connect("astropy-sender", callable_=(cmd == "call"))
        target = find(c, name)
        message = {"samp.mtype": mtype, "samp.params": params(sys.argv[4:])}
        if cmd == "call":
            print(json.dumps(c.call_and_wait(target, message, "20")))
            c.disconnect()
        else:
            c.notify(target, message)
            disconnect(c)


if __name__ == "__main__":
    main()
