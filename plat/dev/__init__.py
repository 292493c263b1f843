"""`plat dev`: the app in a container with its source bind-mounted, reloaded on each save."""
