"""A loopback TCP relay that makes network faults: a real server that goes away,
answers late, loses its replies, or is cut off from one client.

Point a client at ``relay.port`` instead of the server's own port. Faults can be
set and healed at any time, while traffic flows:
- ``cut()``: open connections are dropped and new ones closed at once, as when a
  server or the network between goes down (``restore()`` ends it);
- ``delay(requests=, replies=)``: every chunk (or Kafka frame) in that direction
  waits that many seconds, in order, as on a slow link (with ``api_keys=``, only
  the Kafka requests of those APIs and their replies);
- ``blackhole()``: connections stay open but nothing gets through either way;
- with ``kafka=True`` the relay reads Kafka's framing (a 4-byte size, then the
  frame; a request names its API key, correlation id and client id, a reply
  its correlation id), which makes two more faults possible:
  ``drop_replies(api_keys)`` forwards those requests but loses their replies,
  so the client sees a timeout without knowing what the broker did; and
  ``partition(client_id_prefix)`` blackholes the connections of that client only;
- ``heal()`` ends every fault but a cut.

``requests_seen`` counts the Kafka requests by API key: the relay of the broker
that answers a client's EndTxn is its transaction coordinator's.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

# Kafka API keys the tests aim at.
PRODUCE = 0
END_TXN = 26
ADD_PARTITIONS_TO_TXN = 24
FIND_COORDINATOR = 10
HEARTBEAT = 12


@dataclass
class Faults:
    """What the relay does to traffic now; read by every pump at every chunk or frame."""

    request_delay: float = 0.0
    reply_delay: float = 0.0
    delayed_apis: frozenset[int] | None = None  # None: every frame
    blackhole: bool = False
    dropped_replies: frozenset[int] = frozenset()
    partitioned_clients: tuple[str, ...] = ()
    dropped: int = field(default=0)  # replies lost so far, for the tests to see

    def cut_off(self, client_id: str | None) -> bool:
        partitioned = client_id is not None and any(
            client_id.startswith(prefix) for prefix in self.partitioned_clients
        )
        return self.blackhole or partitioned

    def delay_of(self, requests: bool, api_key: int | None) -> float:
        if self.delayed_apis is not None and api_key not in self.delayed_apis:
            return 0.0
        return self.request_delay if requests else self.reply_delay


@dataclass
class _Connection:
    """One client connection: what the client asked, by correlation id, and who it is."""

    client: socket.socket
    server: socket.socket
    requests: dict[int, int] = field(default_factory=dict)  # correlation id -> API key
    client_id: str | None = None


class Relay:
    def __init__(self, target_host: str, target_port: int, kafka: bool = False) -> None:
        self.target = (target_host, target_port)
        self.kafka = kafka
        self.faults = Faults()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.requests_seen: collections.Counter[int] = collections.Counter()
        self._cut = threading.Event()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    # Faults ------------------------------------------------------------------------

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            for connection in self._open:
                _close(connection)
            self._open.clear()

    def restore(self) -> None:
        self._cut.clear()

    def delay(
        self, requests: float = 0.0, replies: float = 0.0, api_keys: tuple[int, ...] | None = None
    ) -> None:
        if api_keys is not None:
            self._need_kafka("delay by API")
        self.faults.request_delay, self.faults.reply_delay = requests, replies
        self.faults.delayed_apis = None if api_keys is None else frozenset(api_keys)

    def blackhole(self) -> None:
        self.faults.blackhole = True

    def drop_replies(self, *api_keys: int) -> None:
        self._need_kafka("drop_replies")
        self.faults.dropped_replies = frozenset(api_keys)

    def partition(self, client_id_prefix: str) -> None:
        self._need_kafka("partition")
        self.faults.partitioned_clients = (*self.faults.partitioned_clients, client_id_prefix)

    def heal(self) -> None:
        self.faults = Faults(dropped=self.faults.dropped)

    def close(self) -> None:
        self.cut()
        _close(self._listener)

    def _need_kafka(self, fault: str) -> None:
        if not self.kafka:
            raise ValueError(f"{fault} reads Kafka's framing: make the relay with kafka=True")

    # Relaying ----------------------------------------------------------------------

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            if self._cut.is_set():
                _close(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._open.update((client, server))
            connection = _Connection(client, server)
            pumps: list[tuple[Callable[..., None], tuple[object, ...]]] = (
                [(self._frames, (connection, True)), (self._frames, (connection, False))]
                if self.kafka
                else [
                    (self._chunks, (client, server, True)),
                    (self._chunks, (server, client, False)),
                ]
            )
            for target, args in pumps:
                threading.Thread(target=target, args=args, daemon=True).start()

    def _hold(
        self, requests: bool, client_id: str | None = None, api_key: int | None = None
    ) -> None:
        """Wait out the delay of this direction, and any blackhole or partition."""
        time.sleep(self.faults.delay_of(requests, api_key))
        while self.faults.cut_off(client_id) and not self._cut.is_set():
            time.sleep(0.05)

    def _chunks(self, source: socket.socket, sink: socket.socket, requests: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                self._hold(requests)
                sink.sendall(data)
        _close(source)
        _close(sink)

    def _frames(self, connection: _Connection, requests: bool) -> None:
        source, sink = (
            (connection.client, connection.server)
            if requests
            else (connection.server, connection.client)
        )
        with contextlib.suppress(OSError):
            while (frame := _read_frame(source)) is not None:
                api_key = self._note_request(connection, frame) if requests else None
                if not requests:
                    (correlation,) = struct.unpack_from(">i", frame, 4)
                    api_key = connection.requests.pop(correlation, None)
                self._hold(requests, connection.client_id, api_key)
                if not requests and api_key in self.faults.dropped_replies:
                    self.faults.dropped += 1
                    continue
                sink.sendall(frame)
        _close(source)
        _close(sink)

    def _note_request(self, connection: _Connection, frame: bytes) -> int:
        api_key, _version, correlation = struct.unpack_from(">hhi", frame, 4)
        connection.requests[correlation] = api_key
        self.requests_seen[api_key] += 1
        (length,) = struct.unpack_from(">h", frame, 12)
        if length >= 0:
            connection.client_id = frame[14 : 14 + length].decode("utf-8", "replace")
        return int(api_key)


def _read_frame(source: socket.socket) -> bytes | None:
    """One Kafka frame, its 4-byte size included; None at the end of the stream."""
    header = _read_exactly(source, 4)
    if header is None:
        return None
    (size,) = struct.unpack(">i", header)
    body = _read_exactly(source, size)
    return None if body is None else header + body


def _read_exactly(source: socket.socket, count: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < count:
        data = source.recv(count - len(chunks))
        if not data:
            return None
        chunks += data
    return bytes(chunks)


def _close(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
    connection.close()


@contextlib.contextmanager
def relay(target_host: str, target_port: int, kafka: bool = False) -> Iterator[Relay]:
    running = Relay(target_host, target_port, kafka)
    try:
        yield running
    finally:
        running.close()
