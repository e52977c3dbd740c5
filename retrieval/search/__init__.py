"""A query to ranked items: query encoding, keyword search, fusion."""
