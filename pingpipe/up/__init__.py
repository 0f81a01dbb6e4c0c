"""`pingpipe up`: edge, local queue, decoder and loader on one machine, into one DuckDB file."""
