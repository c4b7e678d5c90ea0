"""Accounts: worker pseudonyms and devices, staff and their second factor, sessions."""
