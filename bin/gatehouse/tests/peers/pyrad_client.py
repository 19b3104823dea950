"""An independent RADIUS client (pyrad 2.6) for Gatehouse's tests.

Every reply must pass pyrad's checks with enforce_ma=True: a valid Response
Authenticator, a valid Message-Authenticator, no foreign Proxy-State.
Prints one JSON object per command.

  pyrad_client.py PORT SECRET auth USER PASSWORD [--state HEX] [--source IP] [--no-ma] [--proxy-state TEXT]
  pyrad_client.py PORT SECRET duplicate USER PASSWORD
  pyrad_client.py PORT SECRET conflict USER PASSWORD OTHER_USER OTHER_PASSWORD
  pyrad_client.py PORT SECRET status
"""

import json
import socket
import sys

import pyrad.packet
from pyrad.client import Client, Timeout

from nas import DICTIONARY, code_name



def describe(reply):
    def first(name):
        values = reply.get(name) or []
        return values[0] if values else None

    message = first("Reply-Message")
    state = first("State")
    return {
        "attributes": decoded(reply),
        "code": code_name(reply.code),
        "reply_message": message,
        "state": state.hex() if state is not None else None,
        "proxy_state": [p.decode() for p in reply.get("Proxy-State") or []],
        "first_attribute": reply.raw_packet[20] if reply.raw_packet and len(reply.raw_packet) > 20 else None,
    }


def decoded(reply):
    """Every attribute of the reply by its dictionary name: text as text,
    other bytes in hex, numbers as numbers, tagged values without the tag."""
    def plain(value):
        if isinstance(value, tuple):
            value = value[-1]
        if isinstance(value, bytes):
            try:
                return value.decode()
            except UnicodeDecodeError:
                return value.hex()
        return value

    return {
        str(key): [plain(value) for value in reply[key]]
        for key in reply.keys()
        if key not in ("Message-Authenticator", "Proxy-State", "State")
    }


def client(port, secret, source=None):
    c = Client(server="127.0.0.1", authport=port, secret=secret, dict=DICTIONARY, enforce_ma=True)
    c.timeout = 2
    c.retries = 1
    if source:
        c.bind((source, 0))
    return c


def auth(port, secret, args):
    user, password = args[0], args[1]
    options = args[2:]
    state = options[options.index("--state") + 1] if "--state" in options else None
    source = options[options.index("--source") + 1] if "--source" in options else None
    proxy = options[options.index("--proxy-state") + 1] if "--proxy-state" in options else None
    c = client(port, secret, source)
    # pyrad adds a Message-Authenticator unless told not to.
    req = c.CreateAuthPacket(
        code=pyrad.packet.AccessRequest, User_Name=user, message_authenticator="--no-ma" not in options
    )
    req["User-Password"] = req.PwCrypt(password)
    if state:
        req["State"] = bytes.fromhex(state)
    if proxy:
        req["Proxy-State"] = proxy.encode()
    try:
        return describe(c.SendPacket(req))
    except Timeout:
        return {"code": "timeout"}


def duplicate(port, secret, args):
    """Sends one Access-Request datagram twice, as a NAS retransmits."""
    user, password = args[0], args[1]
    c = client(port, secret)
    req = c.CreateAuthPacket(code=pyrad.packet.AccessRequest, User_Name=user)
    req["User-Password"] = req.PwCrypt(password)
    raw = req.RequestPacket()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(3)
    sock.connect(("127.0.0.1", port))
    replies = []
    for _ in range(2):
        sock.send(raw)
        data = sock.recv(4096)
        reply = req.CreateReply(packet=data)
        if not req.VerifyReply(reply, data, enforce_ma=True):
            return {"error": "reply failed verification"}
        replies.append(data)
    return {"codes": [code_name(r[0]) for r in replies], "identical": replies[0] == replies[1]}


def conflict(port, secret, args):
    """Sends USER's Access-Request, then OTHER_USER's reusing its source
    port, Identifier and Request Authenticator: a different request that a
    cache keyed only on those would answer with USER's reply."""
    user, password, other, other_password = args[:4]
    c = client(port, secret)
    first = c.CreateAuthPacket(code=pyrad.packet.AccessRequest, User_Name=user)
    first["User-Password"] = first.PwCrypt(password)
    raw_first = first.RequestPacket()
    second = c.CreateAuthPacket(
        code=pyrad.packet.AccessRequest, id=first.id, authenticator=first.authenticator, User_Name=other
    )
    second["User-Password"] = second.PwCrypt(other_password)
    raw_second = second.RequestPacket()
    assert raw_first[1] == raw_second[1] and raw_first[4:20] == raw_second[4:20] and raw_first != raw_second
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(3)
    sock.connect(("127.0.0.1", port))
    result = {}
    for name, req, raw in (("first", first, raw_first), ("second", second, raw_second)):
        sock.send(raw)
        try:
            data = sock.recv(4096)
        except socket.timeout:
            result[name] = "timeout"
            continue
        reply = req.CreateReply(packet=data)
        if not req.VerifyReply(reply, data, enforce_ma=True):
            result[name] = "reply failed verification"
            continue
        result[name] = code_name(data[0])
    return result


def status(port, secret):
    c = client(port, secret)
    req = c.CreateAuthPacket(code=pyrad.packet.StatusServer)
    try:
        return describe(c.SendPacket(req))
    except Timeout:
        return {"code": "timeout"}


def main():
    port, secret, command = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
    args = sys.argv[4:]
    if command == "auth":
        result = auth(port, secret, args)
    elif command == "duplicate":
        result = duplicate(port, secret, args)
    elif command == "conflict":
        result = conflict(port, secret, args)
    elif command == "status":
        result = status(port, secret)
    else:
        raise SystemExit("unknown command " + command)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
