"""The agent as plat installs and reaches it: `install` (image, container), `local` (the embedded
local agent), `bootstrap` (a host made ready over SSH)."""
