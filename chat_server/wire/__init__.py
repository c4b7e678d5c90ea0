"""The wire contract, declared once and pure (nothing here awaits or touches a store).

codes     roles, error codes, close codes, ProtocolError, limits
commands  every client frame: typed commands and the FRAMES table (type -> parser, roles)
frames    every server frame: typed classes with one encode path (`to_wire()`)
events    every node event on the hub: typed, with one table codec
protocol  decode and parse a client frame; the rate limit (names the above for callers)
feed      what one connection is sent of each conversation: events in, actions out
codec     JSON on the hot path

docs/PROTOCOL.md documents what clients see of it, one to one (tests/wire/test_protocol_docs.py).
"""
