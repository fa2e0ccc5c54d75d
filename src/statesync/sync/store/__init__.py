"""The store format: object names, encodings, manifests, refs, packs, indexes, leases."""
