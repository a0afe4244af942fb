from __future__ import annotations

import asyncio
import os
import secrets

import pytest
from cryptography.exceptions import InvalidTag

from backend.keys import Keys
from backend.kv import MemoryStore, RedisStore
from backend.settings import SettingsError, from_env


def test_defaults_need_no_configuration():
    settings = from_env({})
    assert settings.database_url.startswith("sqlite:///") and settings.redis_url == "" and not settings.demo


@pytest.mark.parametrize(
    "env,message",
    [
        ({"ANJU_PORT": "eighty"}, "ANJU_PORT: Expected int, got 'eighty'"),
        ({"ANJU_DEMO": "maybe"}, "ANJU_DEMO: Expected bool, got 'maybe'"),
        ({"ANJU_PORT": "70000"}, "ANJU_PORT: expected 1-65535"),
        ({"ANJU_DATABASE_URL": "mysql://x"}, "ANJU_DATABASE_URL: expected sqlite:///PATH or postgresql://"),
        ({"ANJU_AUDIT_CHECKPOINT_MINUTES": "0"}, "ANJU_AUDIT_CHECKPOINT_MINUTES: expected a positive number"),
        ({"ANJU_TRUSTED_PROXIES": "10.0.0.1, proxy.local"}, "ANJU_TRUSTED_PROXIES: expected IPs or CIDRs"),
        ({"ANJU_GRANT_MAX_DAYS": "0"}, "ANJU_GRANT_MAX_DAYS: expected a positive number"),
        ({"ANJU_DECODES_PER_MINUTE": "-1"}, "ANJU_DECODES_PER_MINUTE: expected a positive number"),
        ({"ANJU_COMMAND_MAX_AGE_SECONDS": "0"}, "ANJU_COMMAND_MAX_AGE_SECONDS: expected a positive number"),
        ({"ANJU_METRICS_TOKEN": "guessable"}, "ANJU_METRICS_TOKEN: needs at least 32 characters"),
        (
            {"ANJU_DEVICE_CLOCK_SKEW_SECONDS": "-5"},
            "ANJU_DEVICE_CLOCK_SKEW_SECONDS: expected a positive number",
        ),
        ({"ANJU_NIGHT_HOURS": "22-25"}, "ANJU_NIGHT_HOURS: expected two hours FROM-TO"),
        ({"ANJU_NIGHT_HOURS": "3-3"}, "ANJU_NIGHT_HOURS: expected two hours FROM-TO"),
        ({"ANJU_WELFARE_DAYS": "0"}, "ANJU_WELFARE_DAYS: expected a positive number"),
        ({"ANJU_TAG_WINDOW_SECONDS": "0"}, "ANJU_TAG_WINDOW_SECONDS: expected a positive number"),
        ({"ANJU_SCAN_CACHE_SIZE": "-1"}, "ANJU_SCAN_CACHE_SIZE: expected 0 or more"),
    ],
)
def test_bad_values_name_the_variable(env, message):
    with pytest.raises(SettingsError) as error:
        from_env(env)
    assert message in str(error.value)


def test_a_short_secret_is_refused():
    with pytest.raises(SettingsError, match="at least 32"):
        from_env({"ANJU_SECRET_KEY": "short"}).secret()


def test_the_development_key_file_is_private_and_stable(tmp_path):
    settings = from_env({"ANJU_VAR_DIR": str(tmp_path)})
    assert settings.secret() == settings.secret()
    assert oct((tmp_path / "secret.key").stat().st_mode & 0o777) == "0o600"


def test_sealing_round_trips_and_is_randomised():
    keys = Keys(b"k" * 32)
    sealed = keys.seal("42011219800101123X")
    assert keys.unseal(sealed) == "42011219800101123X"
    assert sealed != keys.seal("42011219800101123X")
    with pytest.raises(InvalidTag):
        Keys(b"other" * 8).unseal(sealed)


def test_lookup_hashes_are_keyed():
    assert Keys(b"a" * 32).lookup_hash("111", "x") == Keys(b"a" * 32).lookup_hash("111", "x")
    assert Keys(b"a" * 32).lookup_hash("111", "x") != Keys(b"b" * 32).lookup_hash("111", "x")


STORES = ["memory"] + (["redis"] if os.environ.get("ANJU_TEST_REDIS_URL") else [])


@pytest.fixture(params=STORES)
async def store(request):
    if request.param == "memory":
        yield MemoryStore()
        return
    redis = RedisStore(os.environ["ANJU_TEST_REDIS_URL"], prefix=f"anju-test:{secrets.token_hex(4)}:")
    yield redis
    await redis.close()


async def test_store_put_get_take(store):
    await store.put("a", "1", ttl=10)
    assert await store.get("a") == "1"
    assert await store.take("a") == "1"
    assert await store.get("a") is None


async def test_store_counts_hits_in_a_window(store):
    assert [await store.hit("h", ttl=1) for _ in range(3)] == [1, 2, 3]
    await asyncio.sleep(1.1)
    assert await store.hit("h", ttl=1) == 1


async def test_store_expires(store):
    await store.put("e", "x", ttl=1)
    await asyncio.sleep(1.1)
    assert await store.get("e") is None


async def test_an_unreachable_redis_is_a_clear_503():
    from backend.kv import StoreUnavailable

    down = RedisStore("redis://127.0.0.1:1/0")  # nothing listens on port 1
    with pytest.raises(StoreUnavailable) as error:
        await down.put("k", "v", ttl=5)
    assert error.value.status == 503 and error.value.code == "store_unavailable"
    await down.close()
