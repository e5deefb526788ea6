"""The PaySim log and the records made from it (pure, but for ``source``): the CSV format,
its raw lines, validated payments, the Avro records and their encoding, the generator of
PaySim-like rows, and the reader of a CSV from a file or a bucket."""
