"""Side effects of the gateway behind small ports: the object store (artifacts)."""
