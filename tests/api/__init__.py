"""HTTP tests of initserve (a package, so that module names never clash with other test folders)."""
