"""The gateway's cache of API keys it accepted moments ago: trusted only while listening, dropped when a key ends."""

from __future__ import annotations

import datetime

from soma.auth import key_cache
from soma.auth.principal import Principal

SEVEN = Principal("key", 7, "ci", frozenset({"chat"}))
EIGHT = Principal("key", 8, "nightly", frozenset({"admin"}))


def listening_cache() -> key_cache.KeyCache:
    cache = key_cache.KeyCache()
    cache.listening(True)
    cache.put("d7", SEVEN, None)
    cache.put("d8", EIGHT, None)
    return cache


def test_a_key_is_served_from_the_cache_until_its_credentials_ended_notify() -> None:
    cache = listening_cache()
    assert (cache.get("d7"), cache.get("d8"), cache.get("unknown")) == (SEVEN, EIGHT, None)
    cache.forget(frozenset({"key:7", "login:3"}))
    assert (cache.get("d7"), cache.get("d8")) == (None, EIGHT)
    cache.forget(frozenset({"key:*"}))  # revoke-all and the emergency stop
    assert cache.get("d8") is None


def test_nothing_is_trusted_while_the_listen_connection_is_down_nor_kept_from_before() -> None:
    cache = listening_cache()
    cache.listening(False)
    assert cache.get("d7") is None
    cache.put("d7", SEVEN, None)
    cache.listening(True)
    assert cache.get("d7") is None  # an end announced while down was never heard


def test_an_entry_lasts_the_ttl_and_never_past_the_keys_expiry(monkeypatch) -> None:
    cache = listening_cache()
    now = key_cache.time.monotonic()
    monkeypatch.setattr(key_cache.time, "monotonic", lambda: now + key_cache.TTL_SECONDS + 0.01)
    assert cache.get("d7") is None
    monkeypatch.setattr(key_cache.time, "monotonic", lambda: now)
    cache.put("d9", SEVEN, datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=1))
    assert cache.get("d9") is None
