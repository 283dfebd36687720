"""Stands for a real uwsgi module on sys.path: dispatchd must not replace it unless told to
(--uwsgi-compat)."""
