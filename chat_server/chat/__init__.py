"""The chat domain: conversations, their messages, matching, sockets and fan-out."""
