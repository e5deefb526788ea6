"""What every long-running process shares: logs, Prometheus metrics, the stop flag raised
by SIGINT or SIGTERM, and working one item ahead in a thread."""
