"""Reusable ``@deploy`` steps; each module registers its own inventory keys (deploys.schema)."""
