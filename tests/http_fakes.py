"""Small HTTP(S) servers on 127.0.0.1 for the credential and malformed-answer tests, and a throwaway CA."""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


JSON = {"Content-Type": "application/json"}
EMPTY_MATRIX = {"status": "success", "data": {"resultType": "matrix", "result": []}}


class AnswerServer:
    """Answers requests with what :meth:`answer` set (per path, else for every path); records each request."""

    def __init__(self, *, tls: ssl.SSLContext | None = None):
        self.answers: dict[str | None, tuple[int, dict, bytes]] = {None: (200, JSON, b"{}")}
        self.seen: list[tuple[str, str, str | None]] = []  # (method, path with query, Authorization)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_port}"

    def answer(self, body, *, status: int = 200, headers: dict | None = None, path: str | None = None) -> None:
        """Answer requests for ``path`` (without query; None: every other path) like this from now on."""
        body = json.dumps(body) if isinstance(body, (dict, list)) else body
        self.answers[path] = (status, headers or JSON, body.encode() if isinstance(body, str) else body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                owner.seen.append((self.command, self.path, self.headers.get("Authorization")))
                status, headers, body = owner.answers.get(self.path.split("?")[0], owner.answers[None])
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _reply

            def log_message(self, *args):
                pass

        return Handler


class TrickleServer:
    """Sends the headers at once, then the promised body one byte every ``every_s``: never a long silence."""

    def __init__(self, *, every_s: float = 0.2, size: int = 200):
        self.every_s, self.size = every_s, size
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                connection.recv(65536)
                connection.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                   f"Content-Length: {self.size}\r\n\r\n".encode())
                for _ in range(self.size):
                    if self._stop.wait(self.every_s):
                        return
                    try:
                        connection.sendall(b" ")
                    except OSError:
                        break

    def close(self) -> None:
        self._stop.set()
        self.listener.close()


def vector(*samples: tuple[dict, list]) -> dict:
    """A Prometheus instant-vector answer."""
    return {"status": "success", "data": {"resultType": "vector",
                                          "result": [{"metric": labels, "value": value} for labels, value in samples]}}


def self_signed_ca(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a certificate for 127.0.0.1 signed by it: (ca.pem, cert.pem, key.pem)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "farod test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context
