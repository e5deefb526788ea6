"""Settings, read once from the environment at the entry point and checked: the whole set
(``config``), its groups by concern (``groups``), the kinds of value (``types``) and the
signing key's rules (``keys``)."""
