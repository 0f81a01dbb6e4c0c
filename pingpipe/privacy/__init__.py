"""pingpipe's privacy checks: what the pipeline promised not to keep, proved over the warehouse."""
