from __future__ import annotations

from argon2 import PasswordHasher

from backend.auth.passwords import HASHER, PasswordService


async def test_hash_and_verify_off_loop():
    service = PasswordService(1)
    try:
        stored = await service.hash("correct horse")
        assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert await service.verify(stored, "correct horse")
        assert not await service.verify(stored, "wrong horse")
        # No stored hash (unknown login): still costs a verify, and never succeeds.
        assert not await service.verify(None, "dummy password for timing equalisation")
        assert not await service.verify("not a hash", "x")
    finally:
        service.close()


def test_old_parameters_need_rehash():
    old = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("pw")
    assert PasswordService.needs_rehash(old)
    assert not PasswordService.needs_rehash(HASHER.hash("pw"))
    assert PasswordService.needs_rehash("garbage")
