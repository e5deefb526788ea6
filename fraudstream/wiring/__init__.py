"""The composition root: the command line, the demo, provisioning, the producer's wiring
(``producing``), and the factory that builds each consumer's and service's clients. It
sits above ``producer`` and ``consumers``; neither they nor the core import it."""
