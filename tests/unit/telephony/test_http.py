"""The provider's HTTP client against a real TCP server in the test's loop that answers as told: keep-alive
reuse, chunked and sized bodies, a server that closes (at once, or an idle connection), silence, garbage,
Retry-After, and TLS with a certificate made for the test."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from telephony.http import HttpClient, NoAnswer

Answer = Callable[[bytes], bytes | None]  # the request head -> raw answer bytes (None: say nothing)


class Server:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                body = await reader.readexactly(length) if length else b""
                self.requests.append(head + body)
                raw = self.answer(head + body)
                if raw is None:
                    await asyncio.sleep(3600)  # silence, until the test ends
                writer.write(raw or b"")
                await writer.drain()
                if b"connection: close" in (raw or b"").lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., asyncio.Future[tuple[Server, str]]]]:
    servers: list[asyncio.Server] = []

    async def start(answer: Answer, tls: ssl.SSLContext | None = None) -> tuple[Server, str]:
        state = Server(answer)
        server = await asyncio.start_server(state.handle, "127.0.0.1", 0, ssl=tls)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return state, f"{'https' if tls else 'http'}://127.0.0.1:{port}"

    yield start  # type: ignore[misc]
    for server in servers:
        server.close()


def ok(body: bytes, extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


async def test_one_connection_serves_request_after_request(serve) -> None:
    server, url = await serve(lambda _: ok(b'{"events":[]}'))
    client = HttpClient(url + "/prefix", headers={"X-Api-Key": "k"})
    for _ in range(20):
        assert await client.request("GET", "/api/v1/health") == (200, b'{"events":[]}', None)
    assert server.connections == 1
    head = server.requests[0].decode()
    assert head.startswith("GET /prefix/api/v1/health HTTP/1.1\r\n") and "X-Api-Key: k\r\n" in head
    await client.aclose()


async def test_a_body_goes_with_its_length_and_a_chunked_answer_is_read_whole(serve) -> None:
    chunked = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n"
    server, url = await serve(lambda _: chunked)
    client = HttpClient(url)
    status, body, _ = await client.request("POST", "/api/v1/tasks", b'{"phone":"7"}',
                                           {"Content-Type": "application/json"})
    assert (status, body) == (201, b'{"a":1}')
    assert server.requests[0].endswith(b"Content-Length: 13\r\n\r\n{\"phone\":\"7\"}")
    await client.request("GET", "/again")
    assert server.connections == 1  # the chunked answer left the connection reusable


async def test_an_error_answer_carries_its_retry_after(serve) -> None:
    _, url = await serve(lambda _: b"HTTP/1.1 429 Too Many\r\nRetry-After: 7\r\nContent-Length: 2\r\n\r\n{}")
    assert await HttpClient(url).request("GET", "/x") == (429, b"{}", "7")


async def test_connection_close_is_honoured(serve) -> None:
    server, url = await serve(lambda _: ok(b"1", "Connection: close\r\n"))
    client = HttpClient(url)
    for _ in range(3):
        assert (await client.request("GET", "/x"))[1] == b"1"
    assert server.connections == 3


async def test_an_idle_connection_the_server_closed_is_replaced_without_losing_the_request(serve) -> None:
    server, url = await serve(lambda _: ok(b"fine"))
    client = HttpClient(url)
    await client.request("GET", "/x")
    for writer in server.writers:  # the server's keep-alive ends first
        writer.close()
    await asyncio.sleep(0.05)
    assert (await client.request("GET", "/y"))[1] == b"fine"
    assert server.connections == 2


async def test_a_connection_idle_past_keepalive_is_not_reused(serve) -> None:
    server, url = await serve(lambda _: ok(b"1"))
    client = HttpClient(url, keepalive=0.05)
    await client.request("GET", "/x")
    await asyncio.sleep(0.1)
    await client.request("GET", "/x")
    assert server.connections == 2


async def test_silence_garbage_and_refusal_are_no_answer(serve) -> None:
    _, silent = await serve(lambda _: None)
    with pytest.raises(NoAnswer, match="timed out"):
        await HttpClient(silent, timeout=0.2).request("GET", "/x")
    _, garbled = await serve(lambda _: b"NOT HTTP AT ALL\r\n\r\n")
    with pytest.raises(NoAnswer):
        await HttpClient(garbled).request("GET", "/x")
    _, cut = await serve(lambda _: b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc")
    with pytest.raises(NoAnswer):
        await HttpClient(cut).request("GET", "/x")
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    with pytest.raises(NoAnswer, match="cannot connect"):
        await HttpClient(f"http://127.0.0.1:{port}").request("GET", "/x")


async def test_a_timed_out_connection_is_not_reused(serve) -> None:
    calls = [0]

    def slow_first(_: bytes) -> bytes | None:
        calls[0] += 1
        return None if calls[0] == 1 else ok(b"second")
    server, url = await serve(slow_first)
    client = HttpClient(url, timeout=0.2)
    with pytest.raises(NoAnswer):
        await client.request("GET", "/x")
    assert (await client.request("GET", "/x"))[1] == b"second"  # not the first answer arriving late
    assert server.connections == 2


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl tool to make a certificate")
async def test_https_checks_the_certificate_and_keeps_the_connection(serve, tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    server, url = await serve(lambda _: ok(b"secret"), tls=tls)
    untrusting = HttpClient(url)
    with pytest.raises(NoAnswer):  # the system's CAs do not know the test's certificate
        await untrusting.request("GET", "/x")
    client = HttpClient(url)
    client.use_tls_context(ssl.create_default_context(cafile=str(cert)))
    for _ in range(3):
        assert (await client.request("GET", "/x"))[1] == b"secret"
    assert server.connections == 1  # one kept connection (the refused handshake never reached the handler)
    await client.aclose()
