"""plat: from an app folder to traffic on your own hosts."""

__version__ = "0.1.0"
