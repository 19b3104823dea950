#!/usr/bin/env python3
"""Paced RADIUS logins with their latency: PAP Access-Requests (with a
Message-Authenticator) sent at RATE a second for SECONDS to HOST:PORT, each
for a user drawn from USERS (a file of "name<TAB>password" lines), one try
each. Prints the answers counted by code and the latency percentiles.

    paced_logins.py HOST PORT SECRET USERS RATE SECONDS

Only the standard library: MD5 for the User-Password and the Response
Authenticator check, HMAC-MD5 for the Message-Authenticator (RFC 2865,
RFC 3579).
"""
import asyncio
import hashlib
import hmac
import os
import random
import struct
import sys
import time

ACCESS_REQUEST, ACCESS_ACCEPT, ACCESS_REJECT, ACCESS_CHALLENGE = 1, 2, 3, 11
USER_NAME, USER_PASSWORD, MESSAGE_AUTHENTICATOR = 1, 2, 80
CODES = {ACCESS_ACCEPT: "accept", ACCESS_REJECT: "reject", ACCESS_CHALLENGE: "challenge"}


def attribute(kind, value):
    return struct.pack("!BB", kind, len(value) + 2) + value


def hide(password, secret, authenticator):
    padded = password + b"\0" * (-len(password) % 16) if password else b"\0" * 16
    out, previous = b"", authenticator
    for i in range(0, len(padded), 16):
        key = hashlib.md5(secret + previous).digest()
        block = bytes(a ^ b for a, b in zip(padded[i:i + 16], key))
        out += block
        previous = block
    return out


def request(identifier, name, password, secret):
    authenticator = os.urandom(16)
    attributes = (
        attribute(USER_NAME, name)
        + attribute(USER_PASSWORD, hide(password, secret, authenticator))
        + attribute(MESSAGE_AUTHENTICATOR, b"\0" * 16)
    )
    length = 20 + len(attributes)
    packet = struct.pack("!BBH", ACCESS_REQUEST, identifier, length) + authenticator + attributes
    mac = hmac.new(secret, packet, hashlib.md5).digest()
    return packet[:-16] + mac, authenticator


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
        packet, authenticator = request(identifier, name.encode(), password.encode(), secret)
        client.waiting[identifier] = (time.perf_counter(), authenticator)
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
