"""Fast exploration: the best hardware design for an architecture, without training."""
