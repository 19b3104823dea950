"""A Web Push service and the browser behind it, for the tests (cryptography).

  webpush_service.py CERT KEY

Makes a subscription (a P-256 key pair and an authentication secret, as a
browser does), serves HTTPS on 127.0.0.1 (a free port) with CERT/KEY, and
prints the subscription as one JSON line: endpoint, p256dh, auth. Then, for
each message POSTed to the endpoint, it checks what a push service checks
(RFC 8030 headers, the RFC 8292 VAPID token: ES256 over the token, for this
origin, not expired, with a subject) and decrypts the body as the browser
would (RFC 8291, aes128gcm), then prints one JSON line: ok, the decrypted
payload or the error, TTL, Urgency, the token's subject. A POST to
`/wpush/gone` is answered 410 (an unsubscribed browser).
"""

import base64
import http.server
import json
import os
import ssl
import struct
import sys
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def b64(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hkdf(salt, ikm, info, length):
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


UA_KEY = ec.generate_private_key(ec.SECP256R1())
UA_PUBLIC = UA_KEY.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
AUTH = os.urandom(16)


def decrypt(body):
    salt, rs, idlen = body[:16], struct.unpack(">I", body[16:20])[0], body[20]
    as_public = body[21 : 21 + idlen]
    ciphertext = body[21 + idlen :]
    if rs < 18 or len(ciphertext) > rs:
        raise ValueError("bad record size")
    peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), as_public)
    shared = UA_KEY.exchange(ec.ECDH(), peer)
    ikm = hkdf(AUTH, shared, b"WebPush: info\x00" + UA_PUBLIC + as_public, 32)
    cek = hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    record = AESGCM(cek).decrypt(nonce, ciphertext, None)
    if not record.endswith(b"\x02"):
        raise ValueError("not the last record")
    return record[:-1].rstrip(b"\x00")


def check_vapid(header, origin):
    if not header.startswith("vapid "):
        raise ValueError(f"not a vapid Authorization: {header!r}")
    params = dict(part.strip().split("=", 1) for part in header[6:].split(","))
    token, key = params["t"], params["k"]
    signing_input, _, signature = token.rpartition(".")
    raw = unb64(signature)
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(key))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ValueError("the VAPID signature does not verify")
    head, claims = (json.loads(unb64(part)) for part in signing_input.split("."))
    if head.get("alg") != "ES256":
        raise ValueError(f"alg {head.get('alg')!r}")
    if claims.get("aud") != origin:
        raise ValueError(f"aud {claims.get('aud')!r}, expected {origin!r}")
    if not time.time() < claims.get("exp", 0) <= time.time() + 24 * 3600:
        raise ValueError(f"exp {claims.get('exp')!r}")
    return claims.get("sub")


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/wpush/gone":
            self.send_response(410)
            self.end_headers()
            return
        report = {"ttl": self.headers.get("TTL"), "urgency": self.headers.get("Urgency")}
        try:
            if self.path != "/wpush/phone":
                raise ValueError(f"unknown path {self.path}")
            if self.headers.get("Content-Encoding") != "aes128gcm":
                raise ValueError(f"Content-Encoding {self.headers.get('Content-Encoding')!r}")
            report["sub"] = check_vapid(self.headers.get("Authorization", ""), ORIGIN)
            report["payload"] = decrypt(body).decode()
            report["ok"] = True
        except Exception as error:  # reported to the test, which fails
            report["ok"] = False
            report["error"] = f"{type(error).__name__}: {error}"
        print(json.dumps(report), flush=True)
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
ORIGIN = f"https://localhost:{server.server_address[1]}"
print(
    json.dumps({"endpoint": f"{ORIGIN}/wpush/phone", "p256dh": b64(UA_PUBLIC), "auth": b64(AUTH)}),
    flush=True,
)
server.serve_forever()
