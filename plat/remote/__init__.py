"""Transports to hosts: SSH (exec, tunnels, the remote Docker engine) and image delivery."""
