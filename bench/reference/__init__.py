"""The apps we compare with, each named for what it is."""
