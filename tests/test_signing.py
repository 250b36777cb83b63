"""Signers that derive each key once: the same signatures as itsdangerous', never another key's."""

import hashlib
from collections.abc import Callable
from typing import TypedDict

import pytest
from itsdangerous import BadSignature, Signer

from quart_app import signing
from quart_app.signing import MAX_DERIVED, CachedKeySigner

KEY_A = b"a" * 32
KEY_B = b"b" * 32


class SignerOptions(TypedDict):
    salt: str
    key_derivation: str
    digest_method: Callable[..., object]


OPTIONS: SignerOptions = {"salt": "quart_app.test", "key_derivation": "hmac",
                          "digest_method": hashlib.sha256}


@pytest.mark.parametrize("keys", [[KEY_A], [KEY_B, KEY_A]], ids=["one-key", "with-fallback"])
def test_signatures_are_the_ones_itsdangerous_makes(keys: list[bytes]) -> None:
    for _ in range(2):  # the second signature comes from the remembered key
        assert CachedKeySigner(keys, **OPTIONS).sign(b"value") == Signer(keys, **OPTIONS).sign(
            b"value")


def test_a_fallback_key_still_verifies_through_the_cache() -> None:
    signed = Signer(KEY_B, **OPTIONS).sign(b"value")
    CachedKeySigner(KEY_B, **OPTIONS).sign(b"warm the cache")
    assert CachedKeySigner([KEY_B, KEY_A], **OPTIONS).unsign(signed) == b"value"


def test_another_keys_signature_is_refused_after_both_were_cached() -> None:
    signed_with_a = CachedKeySigner(KEY_A, **OPTIONS).sign(b"value")
    CachedKeySigner(KEY_B, **OPTIONS).sign(b"value")
    with pytest.raises(BadSignature):
        CachedKeySigner(KEY_B, **OPTIONS).unsign(signed_with_a)


def test_another_salt_is_another_key() -> None:
    signed = CachedKeySigner(KEY_A, **OPTIONS).sign(b"value")
    with pytest.raises(BadSignature):
        CachedKeySigner(KEY_A, **(OPTIONS | {"salt": "other"})).unsign(signed)


def test_the_remembered_keys_are_bounded() -> None:
    for number in range(MAX_DERIVED * 2):
        CachedKeySigner(number.to_bytes(32), **OPTIONS).sign(b"value")
    assert len(signing._DERIVED) <= MAX_DERIVED
