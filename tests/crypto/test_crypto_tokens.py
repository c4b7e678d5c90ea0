"""Session tokens: shape, randomness, hashing, constant-time comparison."""

from __future__ import annotations

import hashlib
import re

from crypto.tokens import hash_token, looks_like_token, new_token, tokens_equal


def test_new_token_shape_and_uniqueness() -> None:
    tokens = {new_token() for _ in range(2000)}
    assert len(tokens) == 2000
    pattern = re.compile(r"^[A-Za-z0-9_-]{43}$")
    assert all(pattern.match(t) for t in tokens)
    assert all(looks_like_token(t) for t in tokens)


def test_looks_like_token_rejects_garbage() -> None:
    token = new_token()
    for bad in ("", token[:-1], token + "A", token[:-1] + "=", token[:-1] + "/", " " + token[1:]):
        assert not looks_like_token(bad)
    assert not looks_like_token(None)  # type: ignore[arg-type]


def test_hash_token_is_sha256_and_deterministic() -> None:
    token = new_token()
    digest = hash_token(token)
    assert len(digest) == 32
    assert digest == hash_token(token)
    assert digest == hashlib.sha256(token.encode()).digest()
    assert hash_token(new_token()) != digest
    assert token.encode() not in digest


def test_tokens_equal() -> None:
    token = new_token()
    assert tokens_equal(token, token)
    assert not tokens_equal(token, new_token())
    assert tokens_equal(hash_token(token), hash_token(token))
    assert not tokens_equal(hash_token(token), hash_token(new_token()))
    assert tokens_equal(token, token.encode())
