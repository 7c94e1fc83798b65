"""`make chaos`: resilience under load — faults injected into a private stack while k6 drives
it, and every accepted write checked to be stored exactly once."""
