"""The command line face: one file per command group, each thin over the library."""
