"""High-availability settings: Sentinels, a multi-host PostgreSQL URL and the replica URL are accepted,
and a malformed one is refused naming the variable."""

from __future__ import annotations

import pytest

from backend.core.settings import WEB_REQUIRES, Settings, SettingsError

BASE = {"DATABASE_URL": "postgresql://db/x", "REDIS_URL": "redis://:pw@r:6379/2", "JWT_SECRET": "k" * 32}


def test_sentinels_and_a_multi_host_database_url_are_accepted():
    s = Settings.from_env({**BASE, "REDIS_SENTINELS": "10.0.0.7:26379, 10.0.0.8:26379,[::1]:26379",
                           "REDIS_SENTINEL_MASTER": "tm-prod",
                           "DATABASE_URL": "postgresql://app@pg1:5432,pg2:5432/tm?target_session_attrs=read-write",
                           "DATABASE_REPLICA_URL": "postgresql://app@pg2:5432/tm"}, require=WEB_REQUIRES)
    assert s.redis_sentinels == ("10.0.0.7:26379", "10.0.0.8:26379", "[::1]:26379")
    assert s.redis_sentinel_master == "tm-prod"
    assert s.redis_wait_replicas == 1
    assert s.database_url.endswith("target_session_attrs=read-write")
    assert s.database_replica_url == "postgresql://app@pg2:5432/tm"


def test_defaults_are_a_single_redis_and_no_replica():
    s = Settings.from_env(BASE, require=WEB_REQUIRES)
    assert s.redis_sentinels == () and s.redis_sentinel_master == "tm" and s.database_replica_url == ""


@pytest.mark.parametrize(("env", "fragment"), [
    ({"REDIS_SENTINELS": "10.0.0.7"}, "REDIS_SENTINELS=10.0.0.7 is invalid: '10.0.0.7' must look like host:port"),
    ({"REDIS_SENTINELS": "h:99999"}, "REDIS_SENTINELS=h:99999 is invalid"),
    ({"REDIS_SENTINEL_MASTER": "a b"}, "REDIS_SENTINEL_MASTER=a b is invalid"),
    ({"DATABASE_REPLICA_URL": "mysql://x"}, "DATABASE_REPLICA_URL=mysql://x is invalid"),
    ({"REDIS_SENTINELS": "h:26379", "REDIS_URL": "rediss://r:6379/0"}, "REDIS_URL is invalid: with REDIS_SENTINELS"),
])
def test_bad_values_name_the_variable(env, fragment):
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**BASE, **env}, require=WEB_REQUIRES)
    assert fragment in str(info.value)
