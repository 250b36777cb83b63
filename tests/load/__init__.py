"""Load tests: many users on two instances, every page checked for whose it is."""
