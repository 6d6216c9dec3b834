"""Slow exploration: datasets in memory, torch models of architectures, and child training."""
