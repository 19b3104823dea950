"""A NAS with several RADIUS servers, under load (pyrad 2.6).

Logs every user in once, THREADS at a time. Each user is sent first to
server (user index modulo the number of servers) and, when that server does
not answer (after pyrad's retransmissions), to the next one, as a NAS fails
over. Every reply must pass pyrad's checks with enforce_ma=True.

  radius_load.py SECRET PORT[,PORT…] USERS_FILE THREADS

USERS_FILE has one `username<TAB>password` per line. Prints `progress N`
after every 100 answers, then one JSON object: answers per reply code, the
Reply-Messages of rejects, the users accepted, the users no server answered,
and how many requests failed over.
"""

import collections
import concurrent.futures
import json
import sys
import threading

import pyrad.packet
from pyrad.client import Client, Timeout

from nas import DICTIONARY, code_name


local = threading.local()
lock = threading.Lock()
answered = 0


def client(port, secret):
    clients = getattr(local, "clients", None)
    if clients is None:
        clients = local.clients = {}
    if port not in clients:
        c = Client(
            server="127.0.0.1",
            authport=port,
            secret=secret,
            dict=DICTIONARY,
            enforce_ma=True,
        )
        c.timeout = 0.5
        c.retries = 2
        clients[port] = c
    return clients[port]


def login(index, user, password, ports, secret):
    global answered
    for attempt in range(len(ports)):
        port = ports[(index + attempt) % len(ports)]
        c = client(port, secret)
        request = c.CreateAuthPacket(code=pyrad.packet.AccessRequest, User_Name=user)
        request["User-Password"] = request.PwCrypt(password)
        try:
            reply = c.SendPacket(request)
        except (Timeout, OSError):
            continue
        messages = reply.get("Reply-Message") or []
        with lock:
            answered += 1
            if answered % 100 == 0:
                print(f"progress {answered}", flush=True)
        return user, code_name(reply.code), messages[0] if messages else None, attempt
    return user, "unanswered", None, len(ports)


def main():
    secret = sys.argv[1].encode()
    ports = [int(p) for p in sys.argv[2].split(",")]
    with open(sys.argv[3], encoding="utf-8") as f:
        users = [line.rstrip("\n").split("\t", 1) for line in f if line.strip()]
    threads = int(sys.argv[4])
    answers = collections.Counter()
    messages = collections.Counter()
    accepted, unanswered = [], []
    failovers = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [
            pool.submit(login, i, user, password, ports, secret)
            for i, (user, password) in enumerate(users)
        ]
        for future in concurrent.futures.as_completed(futures):
            user, code, message, attempt = future.result()
            answers[code] += 1
            failovers += min(attempt, len(ports) - 1) if code != "unanswered" else 0
            if code == "Access-Accept":
                accepted.append(user)
            elif code == "unanswered":
                unanswered.append(user)
            elif message is not None:
                messages[message] += 1
    print(
        json.dumps(
            {
                "answers": answers,
                "reply_messages": messages,
                "accepted": sorted(accepted),
                "unanswered": sorted(unanswered),
                "failovers": failovers,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
