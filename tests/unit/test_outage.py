"""The fault relay of the outage and network-fault tests, on Kafka's framing, against a
small framed server here: what it forwards, delays, holds and loses."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from tests.outage import END_TXN, PRODUCE, Relay, relay


class FramedServer:
    """Answers every Kafka-framed request with its correlation id, and counts requests."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.received: list[int] = []  # API keys, in order
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            while header := connection.recv(4, socket.MSG_WAITALL):
                frame = connection.recv(struct.unpack(">i", header)[0], socket.MSG_WAITALL)
                api_key, _version, correlation = struct.unpack_from(">hhi", frame)
                self.received.append(api_key)
                reply = struct.pack(">i", correlation) + b"ok"
                connection.sendall(struct.pack(">i", len(reply)) + reply)


class Client:
    def __init__(self, port: int, client_id: str) -> None:
        self.socket = socket.create_connection(("127.0.0.1", port))
        self.client_id = client_id.encode()
        self.correlation = 0

    def ask(self, api_key: int, timeout: float = 2.0) -> int | None:
        """Send one request; the correlation id of the reply, or None if none came in time."""
        self.correlation += 1
        body = struct.pack(">hhih", api_key, 0, self.correlation, len(self.client_id))
        body += self.client_id
        self.socket.sendall(struct.pack(">i", len(body)) + body)
        return self.reply(timeout)

    def reply(self, timeout: float) -> int | None:
        self.socket.settimeout(timeout)
        try:
            header = self.socket.recv(4, socket.MSG_WAITALL)
            frame = self.socket.recv(struct.unpack(">i", header)[0], socket.MSG_WAITALL)
        except TimeoutError:
            return None
        correlation: int = struct.unpack_from(">i", frame)[0]
        return correlation


@pytest.fixture
def server() -> Iterator[FramedServer]:
    running = FramedServer()
    yield running
    running.listener.close()


@pytest.fixture
def kafka_relay(server: FramedServer) -> Iterator[Relay]:
    with relay("127.0.0.1", server.port, kafka=True) as running:
        yield running


def test_frames_pass_untouched_without_faults(kafka_relay: Relay, server: FramedServer) -> None:
    client = Client(kafka_relay.port, "producer-1")
    assert [client.ask(PRODUCE), client.ask(END_TXN)] == [1, 2]
    assert server.received == [PRODUCE, END_TXN]


def test_a_dropped_reply_is_lost_after_the_request_reached_the_broker(
    kafka_relay: Relay, server: FramedServer
) -> None:
    client = Client(kafka_relay.port, "producer-1")
    kafka_relay.drop_replies(END_TXN)
    assert client.ask(END_TXN, timeout=0.5) is None
    assert server.received == [END_TXN]  # it was forwarded: the broker acted on it
    assert client.ask(PRODUCE) == 2  # other replies still come
    kafka_relay.heal()
    assert client.ask(END_TXN) == 3
    assert kafka_relay.faults.dropped == 1


def test_a_partition_holds_one_client_until_healed(
    kafka_relay: Relay, server: FramedServer
) -> None:
    victim, other = Client(kafka_relay.port, "victim"), Client(kafka_relay.port, "other")
    assert victim.ask(PRODUCE) == 1  # the relay learns who it is
    kafka_relay.partition("victim")
    assert victim.ask(PRODUCE, timeout=0.5) is None
    assert other.ask(PRODUCE) == 1
    kafka_relay.heal()
    assert victim.reply(timeout=2) == 2  # held, not lost, as TCP does through a partition


def test_a_blackhole_holds_everything_and_a_delay_slows_it(
    kafka_relay: Relay, server: FramedServer
) -> None:
    client = Client(kafka_relay.port, "producer-1")
    kafka_relay.blackhole()
    assert client.ask(PRODUCE, timeout=0.5) is None
    assert server.received == []
    kafka_relay.heal()
    assert client.reply(timeout=2) == 1
    kafka_relay.delay(replies=0.4)
    started = time.monotonic()
    assert client.ask(PRODUCE) == 2
    assert time.monotonic() - started >= 0.4


def test_kafka_faults_need_kafka_framing(server: FramedServer) -> None:
    with relay("127.0.0.1", server.port) as raw:
        with pytest.raises(ValueError, match="kafka=True"):
            raw.drop_replies(END_TXN)
        with pytest.raises(ValueError, match="kafka=True"):
            raw.partition("victim")
