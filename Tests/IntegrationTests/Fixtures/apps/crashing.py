"""A worker that dies while loading, before it can serve (not an import error)."""
import os

os._exit(1)
