"""The composition root: the command line, the demo, provisioning, and the factory that builds
each service's clients. It sits above ``producer`` and ``consumers``; the core
(``fraudstream``) imports neither."""
