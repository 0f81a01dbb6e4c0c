"""pingpipe schemas."""
