"""The producer service: PaySim CSV -> validated records -> Kafka, split by verdict."""
