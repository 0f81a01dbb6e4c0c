"""pingpipe decoder."""
