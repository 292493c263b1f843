"""plat's host agent: gateway (HAProxy), warm pool, invocation loop and store.

Its own package: it never imports the CLI (`plat`) or the CLI's dependencies.
"""

__version__ = "0.1.0"
