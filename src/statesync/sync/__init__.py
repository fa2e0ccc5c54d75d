"""The sync engine: layout, chunking, manifests, refs, push, pull, bundles."""
