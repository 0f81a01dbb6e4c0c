"""pingpipe pingpipe."""
