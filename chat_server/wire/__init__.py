"""The wire contract: frames, their codec, and the pure per-connection feed."""
