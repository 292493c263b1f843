"""Tools for plat's own repository, not shipped in its wheel: the generated references
(`gen_docs`, with `markdown` and `schema_reference`) and the test bed of hosts in containers
(`testbed`), which `scripts/gen-docs`, `scripts/hosts` and the tests all use."""
