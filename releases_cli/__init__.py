"""releases: zero-downtime, instantly reversible deploys on your own server."""

__version__ = "0.1.0"
