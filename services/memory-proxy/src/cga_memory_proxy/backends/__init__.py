"""Memory Bank backends: one interface, one adapter per kind of Memory Bank."""
