"""The fraud and non-fraud consumers and the confirmation web service."""
