"""``ra2 download``: the RA2 challenge files from Synapse (``synapse``), its subcommand in ``cli``."""
