"""One module per verb: parse options, call the core, render. No Docker/SSH/HTTP here."""
