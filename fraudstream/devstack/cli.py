"""``python -m fraudstream.devstack up|status|env|down``: the native local stack from the shell."""

from __future__ import annotations

import argparse
import shlex
import sys

from fraudstream.devstack import health, logins, postgres, stack
from fraudstream.devstack.install import InstallError
from fraudstream.devstack.layout import DASHBOARD_URL, Topology, run_dir


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except (
        InstallError,
        stack.StackError,
        postgres.PostgresError,
        health.StackNotHealthyError,
    ) as error:
        print(f"devstack: {error}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fraudstream.devstack", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    up = commands.add_parser(
        "up", help="install what is missing, start the stack, wait until healthy"
    )
    up.add_argument(
        "--brokers", type=int, choices=(1, 3), default=3, help="Kafka nodes (default 3)"
    )
    up.add_argument(
        "--sasl",
        action="store_true",
        help="clients log in (SASL/SCRAM) and ACLs decide what each may do, as in the cloud",
    )
    up.add_argument(
        "--tls",
        action="store_true",
        help="Kafka's listeners speak TLS, with certificates of the stack's own authority, "
        "as in the cloud",
    )
    up.set_defaults(handler=_up)

    commands.add_parser("status", help="show each process and whether it answers").set_defaults(
        handler=_status
    )
    commands.add_parser(
        "env", help="print export lines that point the pipeline at the stack"
    ).set_defaults(handler=_env)
    commands.add_parser(
        "down", help="stop the processes this stack started and discard its data"
    ).set_defaults(handler=_down)
    for name, handler, what in (
        ("stop-node", _stop_node, "stop one Kafka node (to see the cluster survive it)"),
        ("start-node", _start_node, "start a stopped Kafka node again"),
    ):
        command = commands.add_parser(name, help=what)
        command.add_argument("node", type=int, help="node id, 1 to 3")
        command.set_defaults(handler=handler)
    return parser


def _stop_node(args: argparse.Namespace) -> int:
    if not stack.stop_node(args.node):
        print(f"devstack: kafka-{args.node} was not running", file=sys.stderr)
        return 1
    print(f"stopped kafka-{args.node}", file=sys.stderr)
    return 0


def _start_node(args: argparse.Namespace) -> int:
    stack.start_node(args.node, log=lambda message: print(message, file=sys.stderr))
    return 0


def _up(args: argparse.Namespace) -> int:
    topology = Topology(brokers=args.brokers, sasl=args.sasl, tls=args.tls)
    stack.up(topology, log=lambda message: print(message, file=sys.stderr))
    print(
        "the stack is up; point the pipeline at it with:"
        ' eval "$(python -m fraudstream.devstack env)"'
        f"\nits dashboard: {DASHBOARD_URL}",
        file=sys.stderr,
    )
    return 0


def _status(_args: argparse.Namespace) -> int:
    topology = stack.current_topology()
    if topology is None:
        print("the stack is not running")
        return 1
    login = logins.admin_login(topology)
    answering = {name: check() for name, check in stack.health_checks(topology).items()}
    brokers = health.kafka_brokers_up(topology, login)
    for node in topology.node_ids:
        answering[f"kafka-{node}"] = node in brokers
    for entry in stack.status(topology):
        state = f"pid {entry.pid}" if entry.pid else "stopped"
        answer = "healthy" if answering[entry.name] else "not answering"
        print(f"{entry.name:<16} {state:<12} {answer}")
    print(f"logs: {run_dir() / 'logs'}")
    return 0 if all(answering.values()) else 1


def _env(_args: argparse.Namespace) -> int:
    topology = stack.current_topology()
    if topology is None:
        print(
            "devstack: the stack is not running; start it with 'python -m fraudstream.devstack up'",
            file=sys.stderr,
        )
        return 1
    variables = {
        **topology.environment(),
        **logins.kafka_environment(topology),
        "CONFIRMATION_TOKEN_KEY": logins.token_key(),
        "CONSUMER_NOTE_KEY": logins.stack_secret("consumer-note-key"),
        "CASES_DATABASE_URL": postgres.database_url(),
    }
    for name, value in variables.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def _down(_args: argparse.Namespace) -> int:
    stopped = stack.down(log=lambda message: print(message, file=sys.stderr))
    if not stopped:
        print("nothing of this stack was running", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
