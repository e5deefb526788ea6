"""The run report: what the lake, Kafka and the case table hold, as one HTML page."""
