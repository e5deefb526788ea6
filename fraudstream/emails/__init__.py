"""What the customer reads: the emails rendered from ``email_templates/``, the brand they
wear, the addresses they may go to, the signed "was this you?" tokens, and the SMTP client
that sends them (the only module here that speaks to a server)."""
