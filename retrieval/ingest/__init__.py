"""Files to catalog rows and vectors: scan, extract, encode, write."""
