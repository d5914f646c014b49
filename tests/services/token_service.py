"""The token service of the token-authenticated registry of tests/services/registry.sh.

The registry (Debian's docker-registry, `auth: token`) answers a client without a
token with `401` and `WWW-Authenticate: Bearer realm=<this service>,service=...,
scope=...`, as ghcr.io, Docker Hub and GitLab do. This service implements the other
side of the distribution spec's token authentication: `GET /token?service=&scope=`
with HTTP basic credentials, answered with a JWT (RS256, the signing certificate in
`x5c`) granting the scope's actions, which the registry itself verifies against its
`rootcertbundle`. Wrong or missing credentials get 401; so the registry, not this
script, decides whether a push is allowed.

    python3 token_service.py HOST PORT CERT KEY SIGNING_CERT SIGNING_KEY USER PASSWORD ISSUER
"""

import base64
import http.server
import json
import secrets
import ssl
import sys
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

host, port, cert, key, signing_cert, signing_key, user, password, issuer = sys.argv[1:10]
with open(signing_cert, "rb") as f:
    der = x509.load_pem_x509_certificate(f.read()).public_bytes(serialization.Encoding.DER)
with open(signing_key, "rb") as f:
    private = serialization.load_pem_private_key(f.read(), password=None)
expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(service: str, scopes: list) -> str:
    access = []
    for scope in scopes:
        kind, name, actions = scope.split(":")
        access.append({"type": kind, "name": name, "actions": actions.split(",")})
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    claims = {
        "iss": issuer, "sub": user, "aud": service, "exp": now + 300, "nbf": now - 10,
        "iat": now, "jti": secrets.token_hex(8), "access": access,
    }
    signed = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    signature = private.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signed + "." + b64(signature)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if url.path != "/token":
            self.send_error(404)
            return
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="mlx-ci-token"')
            self.end_headers()
            return
        q = urllib.parse.parse_qs(url.query)
        t = token(q.get("service", [""])[0], q.get("scope", []))
        body = json.dumps({"token": t, "access_token": t, "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer((host, int(port)), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
