"""The roster domain: service hours, shifts, duty."""
