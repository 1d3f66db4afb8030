"""A real SMTP server for tests: it stores every message it accepts as a file.

Usage: python3 smtp_sink.py --dir DIR [--port N] [--host 127.0.0.1] [--fail-first N] [--auth USER:PASSWORD]

Once it accepts connections it prints one line, ``LISTENING <port>``, to stdout (``--port 0``, the
default, picks a free port). Each message accepted is stored in DIR as two files:

* ``<counter>-<random>.json``: the envelope, ``{"mail_from": "...", "rcpt_tos": ["..."]}``;
* ``<counter>-<random>.eml``: the message bytes exactly as received (after dot-unstuffing).

Both are written under a temporary name and renamed into place, the JSON first, so a reader that
lists ``*.eml`` never sees a half-written message. The counter is zero-padded and continues from
the files already in DIR, so sorting by name gives the arrival order across restarts.

``--fail-first N`` answers ``451 4.3.0 try again later`` to the first N messages (their DATA);
``--auth USER:PASSWORD`` requires AUTH PLAIN or LOGIN with these credentials (no TLS needed).
SMTPUTF8 and 8BITMIME are accepted. SIGTERM and SIGINT stop the server cleanly. If the port is in
use the exit status is 98; if aiosmtpd is missing it is 3.
"""

import argparse
import asyncio
import errno
import json
import logging
import os
import secrets
import signal
import sys
import warnings

try:
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
except ImportError:
    print("smtp_sink.py: the aiosmtpd module is missing; install it with: python3 -m pip install aiosmtpd",
          file=sys.stderr)
    sys.exit(3)


class Sink:
    """The aiosmtpd handler: stores messages, optionally failing the first few."""

    def __init__(self, directory, fail_first):
        self.directory = directory
        self.fail_first = fail_first
        names = [name for name in os.listdir(directory) if name.endswith(".eml")]
        self.counter = max((int(name.split("-", 1)[0]) for name in names), default=0)

    async def handle_DATA(self, server, session, envelope):
        if self.fail_first > 0:
            self.fail_first -= 1
            return "451 4.3.0 try again later"
        self.counter += 1
        stem = os.path.join(self.directory, f"{self.counter:08d}-{secrets.token_hex(4)}")
        envelope_json = json.dumps({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos})
        write_atomically(stem + ".json", envelope_json.encode("utf-8"))
        write_atomically(stem + ".eml", envelope.original_content)
        return "250 2.0.0 OK"


def write_atomically(path, data):
    """Writes `data` to a temporary file next to `path`, then renames it to `path`."""
    directory, name = os.path.split(path)
    temporary = os.path.join(directory, f".{name}.tmp")
    with open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.rename(temporary, path)


def authenticator_for(user, password):
    """An aiosmtpd authenticator accepting only `user` and `password` (PLAIN or LOGIN)."""
    expected = LoginPassword(user.encode("utf-8"), password.encode("utf-8"))

    def authenticate(server, session, envelope, mechanism, auth_data):
        # handled=False: let aiosmtpd answer "535 5.7.8 Authentication credentials invalid" on failure.
        return AuthResult(success=mechanism in ("PLAIN", "LOGIN") and auth_data == expected, handled=False)

    return authenticate


async def serve(args):
    handler = Sink(args.dir, args.fail_first)
    options = dict(enable_SMTPUTF8=True, decode_data=False, hostname="smtp-sink.localhost")
    if args.auth is not None:
        user, _, password = args.auth.partition(":")
        options.update(authenticator=authenticator_for(user, password), auth_required=True, auth_require_tls=False)
    loop = asyncio.get_running_loop()
    try:
        # asyncio sets SO_REUSEADDR on listening sockets, so a restart may reuse a port in TIME_WAIT.
        server = await loop.create_server(lambda: SMTP(handler, **options), host=args.host, port=args.port)
    except OSError as error:
        print(f"smtp_sink.py: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        sys.exit(98 if error.errno == errno.EADDRINUSE else 1)
    stop = asyncio.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    print(f"LISTENING {server.sockets[0].getsockname()[1]}", flush=True)
    await stop.wait()
    server.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, help="where to store the messages (must exist)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--fail-first", type=int, default=0, metavar="N", help="answer 451 to the first N messages")
    parser.add_argument("--auth", metavar="USER:PASSWORD", help="require AUTH PLAIN/LOGIN with these credentials")
    args = parser.parse_args()
    # aiosmtpd warns on every connection that AUTH without TLS is insecure; that is intended here.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
