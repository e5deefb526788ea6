"""A small nemesis: network faults at seeded random times, one at a time, each healed
after a few seconds, made by the relays in front of a cluster's brokers.

The same seed gives the same faults in the same order at the same times, so a
failing run can be replayed (what the clients do in between still varies).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

from tests.outage import END_TXN, HEARTBEAT, PRODUCE, Relay

# What each fault does to one relay; ``client`` is the client id prefix aimed at.
FAULTS: dict[str, Callable[[Relay, str, random.Random], None]] = {
    # The commit reaches the coordinator late: the client may have given up on it.
    "EndTxn requests delayed": lambda relay, _, rng: relay.delay(
        requests=rng.uniform(1, 8), api_keys=(END_TXN,)
    ),
    # The coordinator acts at once, but the client hears of it late or not in time.
    "EndTxn replies delayed": lambda relay, _, rng: relay.delay(
        replies=rng.uniform(1, 8), api_keys=(END_TXN,)
    ),
    # Records are written, but the client never learns it: it sends them again.
    "Produce replies lost": lambda relay, _, __: relay.drop_replies(PRODUCE),
    # The client's connections to one broker carry nothing either way.
    "client cut from a broker": lambda relay, client, _: relay.partition(client),
    # The same, with the coordinator (of the transaction, or of the group).
    "coordinator cut off": lambda relay, client, _: relay.partition(client),
    # Every reply of one broker comes late: fetches, heartbeats, commits.
    "replies delayed": lambda relay, _, rng: relay.delay(replies=rng.uniform(0.5, 3)),
}
AT_THE_COORDINATOR = {"EndTxn requests delayed", "EndTxn replies delayed", "coordinator cut off"}


@dataclass(frozen=True)
class Aim:
    """Which faults a nemesis makes, how long each lasts, and how it finds the coordinator:
    the relay that has carried the most requests of ``coordinator_api``."""

    faults: tuple[str, ...]
    lasting: tuple[float, float]
    coordinator_api: int


AT_THE_PRODUCER = Aim(
    (
        "EndTxn requests delayed",
        "EndTxn replies delayed",
        "Produce replies lost",
        "client cut from a broker",
        "coordinator cut off",
    ),
    lasting=(1, 5),
    coordinator_api=END_TXN,
)
# Some cuts outlast the consumers' 10 s session: the member loses its partitions.
AT_THE_CONSUMERS = Aim(
    ("client cut from a broker", "coordinator cut off", "replies delayed"),
    lasting=(2, 14),
    coordinator_api=HEARTBEAT,
)


@dataclass
class Nemesis:
    """Runs ``faults`` faults on ``relays`` from ``seed``; ``history`` says what it did.

    Use it as a context manager around the run under test. The faults aimed at
    the coordinator find it as ``aim`` says (a broker chosen at random before
    the first such request).
    """

    relays: list[Relay]
    seed: int
    client: str  # client id prefix that partitions aim at
    aim: Aim = AT_THE_PRODUCER
    faults: int = 12  # then it keeps quiet, and the run under test can finish
    history: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Nemesis:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for relay in self.relays:
            relay.heal()
        print(self.report())  # pytest shows it when the test fails

    def wait(self) -> None:
        """Until every fault has been made and healed."""
        if self._thread is not None:
            self._thread.join()

    def report(self) -> str:
        return f"nemesis seed {self.seed}:\n  " + "\n  ".join(self.history or ["no fault made"])

    def _run(self) -> None:
        rng = random.Random(self.seed)
        started = time.monotonic()
        for _ in range(self.faults):
            if self._stop.wait(rng.uniform(1, 4)):
                return
            name = rng.choice(self.aim.faults)
            coordinator = name in AT_THE_COORDINATOR
            index = self._coordinator(rng) if coordinator else rng.randrange(len(self.relays))
            relay = self.relays[index]
            FAULTS[name](relay, self.client, rng)
            lasts = rng.uniform(*self.aim.lasting)
            at = time.monotonic() - started
            self.history.append(f"{at:6.1f} s  {name} (broker {index + 1}) for {lasts:.1f} s")
            self._stop.wait(lasts)
            relay.heal()

    def _coordinator(self, rng: random.Random) -> int:
        busiest = busiest_relay(self.relays, self.aim.coordinator_api)
        return rng.randrange(len(self.relays)) if busiest is None else busiest


def busiest_relay(relays: list[Relay], api_key: int) -> int | None:
    """The index of the relay that has carried the most requests of ``api_key`` (for
    EndTxn or Heartbeat, that is the coordinator's); None before the first one."""
    seen = [relay.requests_seen[api_key] for relay in relays]
    return seen.index(max(seen)) if any(seen) else None
