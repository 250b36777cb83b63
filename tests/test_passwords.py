"""Password policy and hashing."""

import asyncio
import threading

import pytest
from argon2 import PasswordHasher as Argon2

from quart_app.passwords import PasswordHasher, normalise, password_problem


@pytest.mark.parametrize("password", ["x" * 12, "x" * 128, "correct 🐎 battery", "  spaces  ok  "])
def test_acceptable_passwords(password: str) -> None:
    assert password_problem(password) is None


@pytest.mark.parametrize(
    "password", ["", "x" * 11, "x" * 129, "tab\tinside password", "nul\x00inside password"]
)
def test_unacceptable_passwords(password: str) -> None:
    assert password_problem(password) is not None


def test_compatibility_forms_are_the_same_password() -> None:
    assert normalise("ﬁnest passphrase") == normalise("finest passphrase")


async def test_hash_is_argon2id_and_verifies() -> None:
    hasher = PasswordHasher()
    password_hash = await hasher.hash("correct horse battery")
    assert password_hash.startswith("$argon2id$")
    assert await hasher.verify(password_hash, "correct horse battery")
    assert not await hasher.verify(password_hash, "correct horse battery!")


@pytest.mark.parametrize("stored", ["", "plaintext", "$argon2id$v=19$garbage"])
async def test_malformed_stored_hash_is_a_mismatch(stored: str) -> None:
    assert not await PasswordHasher().verify(stored, "correct horse battery")


class RecordingArgon2(Argon2):
    """argon2-cffi's hasher, noting which threads hash and how many at once."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        with self.lock:
            self.threads.append(threading.get_ident())
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            return super().hash(password, salt=salt)
        finally:
            with self.lock:
                self.running -= 1


async def test_hashing_runs_off_the_event_loop() -> None:
    argon2 = RecordingArgon2()
    await PasswordHasher(argon2=argon2).hash("correct horse battery")
    assert argon2.threads
    assert threading.get_ident() not in argon2.threads


async def test_concurrent_hashes_are_bounded_by_the_semaphore() -> None:
    argon2 = RecordingArgon2()
    hasher = PasswordHasher(concurrency=1, argon2=argon2)
    await asyncio.gather(*(hasher.hash(f"password number {i}") for i in range(3)))
    assert argon2.most == 1
    assert len(argon2.threads) == 3


def test_weaker_parameters_need_a_rehash() -> None:
    weak = Argon2(time_cost=1, memory_cost=8, parallelism=1).hash("correct horse battery")
    assert PasswordHasher().needs_rehash(weak)
