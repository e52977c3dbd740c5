"""xmodal's FastAPI app: the JSON API and the search page."""
