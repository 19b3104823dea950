"""Logins held open for push approval, and everyone else meanwhile (pyrad 2.6).

  push_hold_load.py SECRET PORT BASE_URL API_TOKEN PUSH_USERS OTHER_USERS PUBLIC_KEY THREADS

1. Enrolls a phone (PUBLIC_KEY, a base64url P-256 point) for every user in
   PUSH_USERS (`username<TAB>password` lines) through the API and the device
   protocol.
2. Sends one Access-Request for each of them at once, from sockets of 200
   requests each, and retransmits the unanswered ones every 5 s, three
   times at most, as a NAS does: Gatehouse holds them all open, waiting
   for phones that never answer, and drops the retransmissions.
3. Once /metrics shows them all waiting, logs in every user of OTHER_USERS
   (`username<TAB>password<TAB>TOTP base32 secret or empty`; a TOTP user
   types the code after the password), THREADS at a time, twice (new users,
   then returning ones, TOTP users with the next time step's code),
   timing each login.
4. Reads /metrics again, then collects the held logins' replies.

Prints one JSON object: phones enrolled, the held logins waiting before and
after the others, their replies by Reply-Message (and duplicates, and any
that failed pyrad's checks), the other logins' answers and latency
percentiles in milliseconds.
"""

import base64
import collections
import concurrent.futures
import hashlib
import hmac
import json
import socket
import struct
import sys
import threading
import time
import urllib.request

import pyrad.packet
from pyrad.client import Client, Timeout

from nas import DICTIONARY, code_name

PER_SOCKET = 200


def http(base, path, body=None, token=None):
    request = urllib.request.Request(base + path, method="POST" if body is not None else "GET")
    if body is not None:
        request.data = json.dumps(body).encode()
        request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode()
        return json.loads(text) if response.headers.get_content_type() == "application/json" else text


def enroll(base, token, users, public_key):
    for user, _ in users:
        link = http(base, "/api/v1/push/enrollments", {"user": user}, token)["link"]
        enrollment = link.split("#enroll=", 1)[1]
        http(base, "/push/v1/devices", {"token": enrollment, "label": "load", "public_key": public_key})
    return len(users)


def waiting(base):
    for line in http(base, "/metrics").splitlines():
        if line.startswith("gatehouse_push_waiting "):
            return int(line.split()[1])
    raise RuntimeError("/metrics has no gatehouse_push_waiting")


def totp(secret, at):
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    offset = digest[19] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


class Held:
    """Access-Requests sent at once and the replies they get."""

    def __init__(self, secret, port, users):
        self.client = Client(server="127.0.0.1", authport=port, secret=secret, dict=DICTIONARY)
        self.requests = {}
        self.raw = {}
        self.retransmissions = 0
        self.replies = collections.Counter()
        self.invalid = 0
        self.duplicates = 0
        self.repeated = 0
        self.answered = {}
        self.lock = threading.Lock()
        self.sockets = []
        for index, (user, password) in enumerate(users):
            if index % PER_SOCKET == 0:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.bind(("127.0.0.1", 0))
                sock.settimeout(0.5)
                self.sockets.append(sock)
            request = self.client.CreateAuthPacket(code=pyrad.packet.AccessRequest, User_Name=user)
            request.id = index % PER_SOCKET
            request["User-Password"] = request.PwCrypt(password)
            request.add_message_authenticator()
            self.requests[(len(self.sockets) - 1, request.id)] = request
            self.raw[(len(self.sockets) - 1, request.id)] = request.RequestPacket()
        self.port = port
        self.stop = False
        self.threads = [
            threading.Thread(target=self.receive, args=(number, sock), daemon=True)
            for number, sock in enumerate(self.sockets)
        ]

    def send(self):
        for thread in self.threads:
            thread.start()
        for (number, _), raw in self.raw.items():
            self.sockets[number].sendto(raw, ("127.0.0.1", self.port))
        threading.Thread(target=self.retransmit, daemon=True).start()

    def retransmit(self):
        for _ in range(3):
            time.sleep(5)
            with self.lock:
                unanswered = [key for key in self.raw if key not in self.answered]
            for number, identifier in unanswered:
                if self.stop:
                    return
                self.sockets[number].sendto(self.raw[(number, identifier)], ("127.0.0.1", self.port))
                self.retransmissions += 1

    def receive(self, number, sock):
        while not self.stop:
            try:
                data = sock.recv(4096)
            except socket.timeout:
                continue
            request = self.requests.get((number, data[1]))
            reply = request.CreateReply(packet=data) if request else None
            with self.lock:
                if reply is None or not request.VerifyReply(reply, data, enforce_ma=True):
                    self.invalid += 1
                    continue
                key = (number, data[1])
                if key in self.answered:
                    # A retransmission that crossed the reply gets the same
                    # reply again; anything else is a second decision.
                    if self.answered[key] == data:
                        self.repeated += 1
                    else:
                        self.duplicates += 1
                    continue
                self.answered[key] = data
                messages = reply.get("Reply-Message") or ["(none)"]
                self.replies[f"{code_name(reply.code)}: {messages[0]}"] += 1

    def wait(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and len(self.answered) < len(self.requests):
            time.sleep(0.1)
        time.sleep(1)  # anything sent twice would have arrived by now
        self.stop = True


local = threading.local()


def login(secret, port, user, password, totp_secret, later=0):
    client = getattr(local, "client", None)
    if client is None:
        client = local.client = Client(
            server="127.0.0.1", authport=port, secret=secret, dict=DICTIONARY, enforce_ma=True
        )
        client.timeout = 5
        client.retries = 1
    typed = password + (totp(totp_secret, time.time() + later) if totp_secret else "")
    request = client.CreateAuthPacket(code=pyrad.packet.AccessRequest, User_Name=user)
    request["User-Password"] = request.PwCrypt(typed)
    started = time.perf_counter()
    try:
        reply = client.SendPacket(request)
    except (Timeout, OSError):
        return "unanswered", None
    elapsed = (time.perf_counter() - started) * 1000
    return code_name(reply.code), elapsed


def percentile(values, fraction):
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2)


def main():
    secret = sys.argv[1].encode()
    port = int(sys.argv[2])
    base = sys.argv[3]
    token = sys.argv[4]
    with open(sys.argv[5], encoding="utf-8") as f:
        push_users = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    with open(sys.argv[6], encoding="utf-8") as f:
        others = [(line.rstrip("\n").split("\t") + [""])[:3] for line in f if line.strip()]
    public_key = sys.argv[7]
    threads = int(sys.argv[8])

    enrolled = enroll(base, token, push_users, public_key)
    held = Held(secret, port, push_users)
    held.send()
    deadline = time.monotonic() + 60
    waiting_before = waiting(base)
    while waiting_before < len(push_users) and time.monotonic() < deadline:
        time.sleep(0.1)
        waiting_before = waiting(base)

    answers = collections.Counter()
    latencies = {"new": [], "returning": []}
    # The second round's TOTP codes are the next time step's (a code is
    # accepted once; the next step is within the drift window).
    for round_name, later in (("new", 0), ("returning", 30)):
        with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
            futures = [pool.submit(login, secret, port, *other, later) for other in others]
            for future in futures:
                code, elapsed = future.result()
                answers[f"{round_name} {code}"] += 1
                if elapsed is not None:
                    latencies[round_name].append(elapsed)
    waiting_after = waiting(base)
    held.wait(90)
    all_latencies = latencies["new"] + latencies["returning"]
    print(
        json.dumps(
            {
                "enrolled": enrolled,
                "held": len(push_users),
                "waiting_before_others": waiting_before,
                "waiting_after_others": waiting_after,
                "held_replies": held.replies,
                "held_second_decisions": held.duplicates,
                "held_replies_repeated": held.repeated,
                "held_retransmissions": held.retransmissions,
                "held_invalid": held.invalid,
                "others": answers,
                "latency_ms": {
                    name: {
                        "count": len(values),
                        "p50": percentile(values, 0.50),
                        "p99": percentile(values, 0.99),
                        "max": round(max(values), 2),
                    }
                    for name, values in (("new", latencies["new"]), ("returning", latencies["returning"]), ("all", all_latencies))
                    if values
                },
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
