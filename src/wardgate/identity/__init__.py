"""Who is asking: local identities and the gateway's own access tokens."""
