"""Runtimes are data: each `templates/<runtime>/runtime.yaml` describes one."""

from plat.runtimes.registry import Runtime, Signal, get_runtime, load_runtimes

__all__ = ["Runtime", "Signal", "get_runtime", "load_runtimes"]
