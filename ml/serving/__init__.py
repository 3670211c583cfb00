"""The read API (`make serve`): FastAPI over the published snapshots, never the live warehouse."""
