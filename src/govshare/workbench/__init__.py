"""工作台: the home page of each role — the work waiting for the user, read through the services' own queries."""
