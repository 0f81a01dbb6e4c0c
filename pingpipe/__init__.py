"""pingpipe: telemetry pings in, per-application warehouse tables out (Mozilla's contracts, on a laptop or at scale)."""
