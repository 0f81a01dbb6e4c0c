"""pingpipe loader."""
