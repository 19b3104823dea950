"""Holds many idle and half-sent HTTP connections to a server, as a
slow-loris attacker does, and probes the server from another loopback
address meanwhile. Driven by lines on standard input; prints one JSON
object per command.

  idle_sockets.py PORT COUNT
    opens COUNT connections from 127.0.0.1 (every other one sends half a
    request head, then nothing); prints {"opened": N, "refused": N}
  probe PATH      a GET from 127.0.0.2 with a 1-second timeout:
                  {"status": CODE or null, "ms": elapsed}
  closed          how many held connections the server has closed: {"closed": N}
  (end of input)  closes everything and exits
"""

import json
import resource
import socket
import sys
import time


def main():
    port, count = int(sys.argv[1]), int(sys.argv[2])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, count + 256)), hard))
    held, refused = [], 0
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            refused += 1
            s.close()
            continue
        if i % 2:
            try:
                s.send(b"GET /healthz HTTP/1.1\r\nHost: gatehouse\r\nX-Slow: ")
            except OSError:
                pass
        s.setblocking(False)
        held.append(s)
    print(json.dumps({"opened": len(held), "refused": refused}), flush=True)
    for line in sys.stdin:
        command = line.split()
        if not command:
            continue
        if command[0] == "probe":
            print(json.dumps(probe(port, command[1])), flush=True)
        elif command[0] == "closed":
            print(json.dumps({"closed": sum(1 for s in held if is_closed(s))}), flush=True)
    for s in held:
        s.close()


def probe(port, path):
    start = time.monotonic()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.bind(("127.0.0.2", 0))
        s.connect(("127.0.0.1", port))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: gatehouse\r\nConnection: close\r\n\r\n".encode())
        head = s.recv(64)
        status = int(head.split()[1]) if head.startswith(b"HTTP/1.1 ") else None
    except OSError:
        status = None
    finally:
        s.close()
    return {"status": status, "ms": round((time.monotonic() - start) * 1000, 1)}


def is_closed(s):
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


if __name__ == "__main__":
    main()
