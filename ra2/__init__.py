"""The ``ra2`` command line: one console command, one subcommand per stage."""
