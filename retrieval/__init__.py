"""xmodal's library: settings, media loading, encoders, catalog, vector indexes, search."""

__version__ = "0.1.0"
