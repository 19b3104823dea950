"""Floods a RADIUS server with Access-Requests for random user names, as a
NAS that has the shared secret could: COUNT requests spread evenly over
SECONDS, from 64 source ports, each with a valid Message-Authenticator.
Answers are not waited for. Prints {"sent": N, "seconds": S, "answers": N}.

  radius_flood.py PORT SECRET COUNT SECONDS
"""

import hashlib
import hmac
import json
import os
import socket
import struct
import sys
import time


def access_request(secret, identifier, name, password):
    authenticator = os.urandom(16)
    padded = password + b"\0" * (-len(password) % 16 or (16 if not password else 0))
    hidden, previous = b"", authenticator
    for i in range(0, len(padded), 16):
        key = hashlib.md5(secret + previous).digest()
        block = bytes(a ^ b for a, b in zip(padded[i : i + 16], key))
        hidden += block
        previous = block
    attributes = (
        bytes([1, 2 + len(name)]) + name + bytes([2, 2 + len(hidden)]) + hidden + bytes([80, 18]) + b"\0" * 16
    )
    length = 20 + len(attributes)
    packet = struct.pack("!BBH", 1, identifier, length) + authenticator + attributes
    mac = hmac.new(secret, packet, hashlib.md5).digest()
    return packet[:-16] + mac


def main():
    port, secret = int(sys.argv[1]), sys.argv[2].encode()
    count, seconds = int(sys.argv[3]), float(sys.argv[4])
    sockets = []
    for _ in range(64):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.connect(("127.0.0.1", port))
        s.setblocking(False)
        sockets.append(s)
    packets = [
        access_request(secret, i % 256, b"flood-%08x" % int.from_bytes(os.urandom(4), "big"), b"guess-%d" % i)
        for i in range(count)
    ]
    answers = 0
    start = time.monotonic()
    for i, packet in enumerate(packets):
        due = start + seconds * i / count
        while time.monotonic() < due:
            time.sleep(0.0005)
        try:
            sockets[(i // 256) % len(sockets)].send(packet)
        except BlockingIOError:
            pass
    elapsed = time.monotonic() - start
    # Count what came back in the next moment (rejects for the names
    # that were answered; the others were dropped).
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:
        for s in sockets:
            try:
                while s.recv(4096):
                    answers += 1
            except BlockingIOError:
                pass
        time.sleep(0.01)
    print(json.dumps({"sent": count, "seconds": round(elapsed, 2), "answers": answers}))


if __name__ == "__main__":
    main()
