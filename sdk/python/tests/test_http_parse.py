"""The harness's request parsing (falplane/_http_parse.py) against the stdlib's.

read_header_block must give what http.client.parse_headers gives for every
header block, ordinary or not; over a socket, the harness must keep the
stdlib's answers to malformed requests and its keep-alive rules."""

from __future__ import annotations

import http.client
import io
import json
from typing import TYPE_CHECKING

import pytest

from falplane._http_parse import HeaderBlockError, read_header_block

if TYPE_CHECKING:
    from conftest import RunnerProc

BLOCKS = [
    # What the gateway sends, and a bare client.
    b"host: 127.0.0.1:4000\r\nconnection: keep-alive\r\ncontent-type: application/json\r\n"
    b"x-fal-request-id: 3f0c8a4e-1b2c-4d5e-8f90-123456789abc\r\nx-fal-endpoint: local/echo\r\ncontent-length: 2\r\n\r\n",
    b"Content-Length: 2\r\n\r\n",
    b"\r\n",
    b"",
    # Bare LF line ends, no space after the colon, spaces and tabs around values, an empty value.
    b"A:1\nB:  two \t\nC:\n\n",
    # Repeated headers, in order; latin-1 bytes in a value.
    b"Set: a\r\nSet: b\r\nX-Name: caf\xe9\r\n\r\n",
    # The end of the stream without a blank line.
    b"A: 1\r\n",
    # Not ordinary, parsed by email.parser: a folded line, a name outside the token set,
    # a stray CR inside a line, a line without a colon, an empty name.
    b"A: one\r\n  two\r\nB: 2\r\n\r\n",
    b"A(b): 1\r\nC: 2\r\n\r\n",
    b"A: 1\rB: 2\r\n\r\n",
    b"A: 1\r\nnot a header\r\nB: 2\r\n\r\n",
    b": nameless\r\nB: 2\r\n\r\n",
]


@pytest.mark.parametrize("block", BLOCKS)
def test_header_block_as_the_stdlib_parses_it(block: bytes) -> None:
    ours, theirs = io.BytesIO(block + b"BODY"), io.BytesIO(block + b"BODY")
    mine, stdlib = read_header_block(ours), http.client.parse_headers(theirs)
    assert type(mine) is type(stdlib)
    assert mine.items() == stdlib.items()
    # Both stop reading at the same byte: the body is the next thing read.
    assert ours.read() == theirs.read()


def test_header_block_limits_as_the_stdlib() -> None:
    with pytest.raises(HeaderBlockError, match="Line too long"):
        read_header_block(io.BytesIO(b"A: " + b"x" * 70000 + b"\r\n\r\n"))
    with pytest.raises(HeaderBlockError, match="Too many headers"):
        read_header_block(io.BytesIO(b"".join(b"H%d: 1\r\n" % i for i in range(101)) + b"\r\n"))
    assert len(read_header_block(io.BytesIO(b"".join(b"H%d: 1\r\n" % i for i in range(99)) + b"\r\n"))) == 99


def test_malformed_requests_get_the_stdlib_statuses(ready: RunnerProc) -> None:
    assert ready.send_raw(b"POST / HTTP/1.x\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert ready.send_raw(b"POST / HTTP/2.0\r\n\r\n").startswith(b"HTTP/1.1 505 ")
    assert ready.send_raw(b"POST / HTTP/1.1 extra\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert ready.send_raw(b"POST /\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    too_many = b"POST / HTTP/1.1\r\n" + b"".join(b"H%d: 1\r\n" % i for i in range(101)) + b"\r\n"
    assert ready.send_raw(too_many).startswith(b"HTTP/1.1 431 ")
    # Still serving.
    assert ready.request("GET", "/health")[:2] == (200, {"status": "ok"})


def test_keep_alive_rules_and_folded_headers(ready: RunnerProc) -> None:
    body = b"{}"
    # HTTP/1.0 closes after the answer unless asked to keep the connection; so does Connection: close.
    for head in (b"POST / HTTP/1.0\r\n", b"POST / HTTP/1.1\r\nConnection: close\r\n"):
        answer = ready.send_raw(head + b"Content-Length: 2\r\n\r\n" + body)
        assert answer.startswith(b"HTTP/1.1 200 ") and b"Connection: close" in answer
    # A folded header line reaches the app as the stdlib parses it.
    out = ready.send_raw(b"POST /ctx HTTP/1.1\r\nX-Custom: one\r\n two\r\nx-fal-request-id: r-1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
    head, _, answer = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert json.loads(answer) == {"request_id": "r-1", "endpoint": "/ctx", "custom": "one\r\n two", "cancelled": False}
