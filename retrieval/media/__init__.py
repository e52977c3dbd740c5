"""Decoding files into pictures, text and audio, with limits."""
