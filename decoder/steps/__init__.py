"""The decoder's steps: each a small function over (attributes, payload), raising DecodeError."""
