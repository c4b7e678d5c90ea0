"""Pure cryptography for Yizhan: envelope encryption, key ring, pseudonyms, passwords, tokens."""
