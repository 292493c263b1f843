"""The contract between plat and its agents: the manifest an agent runs and every body of the
agent's control API, as strict typed models. Both sides import this package; it imports
neither. A value that passes these models is safe to render into HAProxy's config, its
runtime API and Docker's arguments: every string is matched to a pattern, every number bounded.
"""

CONTRACT_VERSION = 1
