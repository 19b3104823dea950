"""A real SMTP server (aiosmtpd) for Gatehouse's tests.

Stores every message in a maildir (aiosmtpd's Mailbox handler, which adds
X-Peer, X-MailFrom and X-RcptTo headers). With --tls it requires STARTTLS
with that certificate (with --implicit-tls as well, TLS from the first
byte instead); with --auth it requires AUTH (PLAIN or LOGIN) as that user,
over TLS when --tls is given.

  smtp_server.py HOST PORT MAILDIR [--tls CERT KEY [--implicit-tls]] [--auth USER PASSWORD]

Runs until killed.
"""

import argparse
import hmac
import signal
import ssl

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("maildir")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--implicit-tls", action="store_true")
    parser.add_argument("--auth", nargs=2, metavar=("USER", "PASSWORD"))
    args = parser.parse_args()

    options = {}
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*args.tls)
        if args.implicit_tls:
            options.update(ssl_context=context)
        else:
            options.update(tls_context=context, require_starttls=True)
    if args.auth:
        user, password = (value.encode() for value in args.auth)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and hmac.compare_digest(auth_data.login, user)
                and hmac.compare_digest(auth_data.password, password)
            )
            return AuthResult(success=ok, handled=False)

        options.update(
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=bool(args.tls),
        )
    controller = Controller(
        Mailbox(args.maildir), hostname=args.host, port=args.port, **options
    )
    controller.start()
    try:
        while True:
            signal.pause()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
