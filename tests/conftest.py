"""Shared fixtures live in plugin modules, one per area, so each stays small."""

pytest_plugins = [
    "tests.fixtures_models",
    "tests.fixtures_corpus",
    "tests.fixtures_server",
    "tests.fixtures_video",
    "tests.fixtures_browser",
    "tests.fixtures_cjk",
]
