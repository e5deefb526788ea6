"""Parsing a block: the one pattern a line beside the column-wise checks, same run.

    make bench-parsing        # or: python -m bench.parsing --rows 400000

The first ``--rows`` generated PaySim rows (seed 1), in the producer's 1 MiB
blocks, parsed and validated by ``parse_block`` as the producer does (a
clean block takes the one pattern), then again with the one pattern turned
off, so that every block takes the ten column-wise checks, as all did before
it. One thread, no Kafka; the best of ``--repeats`` passes, in µs a row.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from unittest import mock

from bench.scratch import generated_file
from fraudstream.paysim import payments
from fraudstream.paysim.source import Chunk, read_chunks, read_header


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    source = generated_file(args.rows)
    with source.open("rb") as stream:
        chunks = list(read_chunks(stream, read_header(stream)[1], 2))

    def parse_all() -> None:
        for chunk in chunks:
            payments.parse_block(chunk.data, chunk.first_line)

    ours = best_per_row(parse_all, chunks, args.repeats)
    with mock.patch.object(payments, "every_line_good", return_value=False):
        checks = best_per_row(parse_all, chunks, args.repeats)
    print(f"{args.rows:,} generated rows in {len(chunks)} blocks, best of {args.repeats}")
    print(f"  column-wise checks for every block   {checks:6.3f} us a row")
    print(f"  one pattern a line (fraudstream)     {ours:6.3f} us a row")
    print(f"  column-wise / one pattern            {checks / ours:6.2f}x")


def best_per_row(work: Callable[[], None], chunks: list[Chunk], repeats: int) -> float:
    rows = sum(chunk.end_line - chunk.first_line for chunk in chunks)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best / rows * 1e6


if __name__ == "__main__":
    main()
