"""A Client ID Metadata Document (CIMD) client id through the official Python MCP client's own
OAuth (``mcp`` 2.x ``OAuthClientProvider(client_metadata_url=...)``) against ``nexus dev``
(design 17 §2.6, §7 case 1).

The client accepts only an https ``client_metadata_url``, so the document is served over TLS on
loopback by a certificate of a throwaway CA made here. The broker trusts that CA through
``SSL_CERT_FILE`` (read by the platform root loader its HTTP client uses), set for the
``nexus dev`` process of this module only; ``nexus dev`` allows loopback documents because its
issuer is loopback. No registration happens: the client id is the document's URL, the broker
fetched the document, and the token the tool sees names that URL as its ``client_id``.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from test_mcp_auth_stack import REDIRECT_URI
from test_mcp_remote_stack import Client, Served, text
from test_stack import Stack, stack

__all__ = ["stack"]  # the fixture, imported for pytest


def certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, Any] | None
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    signer_name, signer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, signer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=0), critical=True
        ).add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = (
            builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        )
    return builder.sign(signer_key, hashes.SHA256())


class DocumentServer:
    """An https server on 127.0.0.1 publishing one client metadata document; counts the GETs."""

    def __init__(self, directory: Path) -> None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = certificate("nexus test CA", ca_key, None)
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        leaf = certificate("127.0.0.1", leaf_key, ("nexus test CA", ca_key))
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        chain = directory / "leaf.pem"
        chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        key_file = directory / "leaf.key"
        key_file.write_bytes(
            leaf_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(chain, key_file)
        self.fetches = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                found = self.path == "/clients/notes.json"
                body = json.dumps(owner.document).encode() if found else b"{}"
                if found:
                    owner.fetches += 1
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # never on stdout

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.server.daemon_threads = True
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/clients/notes.json"
        self.document = {
            "client_id": self.url,
            "client_name": "python cimd e2e",
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DocumentServer]:
    server = DocumentServer(tmp_path_factory.mktemp("cimd"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def trusting_stack(documents: DocumentServer, request: pytest.FixtureRequest) -> Stack:
    """This module's ``nexus dev``, started with the test CA as its trust store."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SSL_CERT_FILE", str(documents.ca_file))
        started: Stack = request.getfixturevalue("stack")
    return started


def test_cimd_client_id_with_the_official_client(
    trusting_stack: Stack, documents: DocumentServer
) -> None:
    stack = trusting_stack

    async def scenario() -> tuple[Client, Any]:
        async with Served(stack) as served:
            client = Client(stack, served.resource, client_metadata_url=documents.url)
            (whoami,) = await client.call(("whoami", {}))
            return client, whoami

    client, whoami = asyncio.run(scenario())
    subject, workspace, client_id = text(whoami).split(" ")
    assert subject.startswith("usr_")
    assert workspace == stack.workspace
    assert client_id == documents.url, "the token names the document URL as its client"
    assert documents.fetches >= 1, "the broker fetched the document"
    registrations = [r for r in client.answers if str(r.url).endswith("/as/register")]
    assert registrations == [], "no dynamic registration with a CIMD client id"
    assert client.browser.visits == 1
