#!/usr/bin/env python3
"""Publishes one message to Herald with Python's standard library only.

Mints a short-lived HS256 publisher token with the secret Herald verifies tokens with, and POSTs the
message to /messages:

    HERALD_URL=http://localhost:8080 HERALD_JWT_SECRET=... python3 publish.py alice "Your order shipped"

In a Django or Flask backend, call publish() where the event happens; PyJWT or requests would do the
same in fewer lines, but nothing here needs them.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def publisher_token(secret: str, service: str, ttl_seconds: int = 60) -> str:
    """A token with "herald": {"publish": true}, HS256; `service` (its sub) is what Herald rate-limits."""
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {"sub": service, "iat": now, "exp": now + ttl_seconds, "herald": {"publish": True}}
    signing_input = ".".join(
        base64url(json.dumps(part, separators=(",", ":")).encode("utf-8")) for part in (header, claims)
    )
    signature = hmac.new(secret.encode("utf-8"), signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + base64url(signature)


class HeraldError(Exception):
    """Herald refused the request: its status and the problem's detail (RFC 9457)."""


def publish(base_url: str, token: str, message) -> str:
    """POSTs one message (a dict) or a batch (a list); returns the id Herald gave it."""
    request = urllib.request.Request(
        base_url.rstrip("/") + "/messages",
        data=json.dumps(message).encode("utf-8"),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + token},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["id"]
    except urllib.error.HTTPError as error:
        body = error.read().decode("utf-8", "replace")
        try:
            detail = json.loads(body).get("detail", body)
        except ValueError:
            detail = body
        raise HeraldError(f"{error.code} {detail}") from None
    except OSError as error:  # not answered at all (refused, timed out): safe to retry later
        raise HeraldError(f"cannot reach {base_url} ({getattr(error, 'reason', error)})") from None


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: publish.py <user id> <text>", file=sys.stderr)
        return 2
    secret = os.environ.get("HERALD_JWT_SECRET")
    if not secret:
        print("set HERALD_JWT_SECRET to Herald's --jwt-secret", file=sys.stderr)
        return 2
    base_url = os.environ.get("HERALD_URL", "http://localhost:8080")
    user, text = sys.argv[1], sys.argv[2]
    message = {"to": {"users": [user]}, "event": "notice", "data": {"text": text}}
    try:
        print(publish(base_url, publisher_token(secret, "python-example"), message))
    except HeraldError as error:
        print(f"herald: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
