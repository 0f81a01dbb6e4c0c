"""pingpipe edge."""
