"""Many hosts: which hosts a command targets, connecting to them, and rolling deploys across them."""
