"""CLI commands that live in their own modules (registered by coexplore.cli)."""
