#!/usr/bin/env python3
"""Paced RADIUS logins with their latency: PAP Access-Requests (with a
Message-Authenticator) sent at RATE a second for SECONDS to HOST:PORT, each
for a user drawn from USERS (a file of "name<TAB>password" lines), one try
each. Prints the answers counted by code and the latency percentiles.

    paced_logins.py HOST PORT SECRET USERS RATE SECONDS

Only the standard library; requests are encoded by the RADIUS flood test's
peer (bin/gatehouse/tests/peers/radius_flood.py), answers checked by their
Response Authenticator (RFC 2865).
"""
import asyncio
import hashlib
import os
import random
import struct
import sys
import time

# The request encoder the RADIUS flood test uses (PAP and a
# Message-Authenticator).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bin", "gatehouse", "tests", "peers"))
from radius_flood import access_request  # noqa: E402

ACCESS_ACCEPT, ACCESS_REJECT, ACCESS_CHALLENGE = 2, 3, 11
CODES = {ACCESS_ACCEPT: "accept", ACCESS_REJECT: "reject", ACCESS_CHALLENGE: "challenge"}


class Client(asyncio.DatagramProtocol):
    def __init__(self, secret):
        self.secret = secret
        self.waiting = {}  # identifier -> (sent at, request authenticator)
        self.latencies = []
        self.codes = {}
        self.bad = 0

    def datagram_received(self, data, _address):
        if len(data) < 20:
            self.bad += 1
            return
        code, identifier, length = struct.unpack("!BBH", data[:4])
        sent = self.waiting.pop(identifier, None)
        if sent is None:
            return
        at, authenticator = sent
        expected = hashlib.md5(data[:4] + authenticator + data[20:length] + self.secret).digest()
        if expected != data[4:20]:
            self.bad += 1
            return
        self.latencies.append(time.perf_counter() - at)
        name = CODES.get(code, str(code))
        self.codes[name] = self.codes.get(name, 0) + 1


async def main(host, port, secret, users_file, rate, seconds):
    users = [line.rstrip("\n").split("\t") for line in open(users_file) if line.strip()]
    loop = asyncio.get_running_loop()
    # Enough sockets that an identifier is never reused while its request waits.
    clients = []
    for _ in range(max(1, rate // 50)):
        transport, client = await loop.create_datagram_endpoint(
            lambda: Client(secret), remote_addr=(host, port)
        )
        clients.append((transport, client))
    total = rate * seconds
    start = time.perf_counter()
    for n in range(total):
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        transport, client = clients[n % len(clients)]
        identifier = (n // len(clients)) % 256
        name, password = random.choice(users)
        packet = access_request(secret, identifier, name.encode(), password.encode())
        client.waiting[identifier] = (time.perf_counter(), packet[4:20])
        transport.sendto(packet)
    await asyncio.sleep(2)
    latencies = sorted(l for _, c in clients for l in c.latencies)
    codes = {}
    for _, client in clients:
        for name, count in client.codes.items():
            codes[name] = codes.get(name, 0) + count
    lost = total - len(latencies)
    sent_for = time.perf_counter() - start - 2

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000 if latencies else float("nan")

    answers = ", ".join(f"{count} {name}" for name, count in sorted(codes.items()))
    print(f"{total} requests at {rate}/s over {sent_for:.1f} s: {answers}; {lost} unanswered")
    print(f"latency ms: p50 {pct(50):.1f}  p90 {pct(90):.1f}  p99 {pct(99):.1f}  max {pct(100):.1f}")


if __name__ == "__main__":
    host, port, secret, users_file, rate, seconds = sys.argv[1:7]
    asyncio.run(main(host, int(port), secret.encode(), users_file, int(rate), int(seconds)))
