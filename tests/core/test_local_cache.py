"""The per-process cache of hot lookups: TTL, misses not stored, and no stale value after a change."""

from ccp.core.local_cache import LocalTtlCache


def test_a_value_is_kept_for_its_ttl_and_a_miss_is_not_kept():
    ttl = [60.0]
    cache = LocalTtlCache(lambda: ttl[0])
    loads = []

    def load(value):
        loads.append(value)
        return value

    assert cache.get_or_load("k", lambda: load("v1")) == "v1"
    assert cache.get_or_load("k", lambda: load("v2")) == "v1"  # cached
    assert cache.get_or_load("gone", lambda: load(None)) is None
    assert cache.get_or_load("gone", lambda: load("now here")) == "now here"  # the miss was not kept
    ttl[0] = 0  # turned off: every call loads
    assert cache.get_or_load("k", lambda: load("v3")) == "v3"
    assert loads == ["v1", None, "now here", "v3"]


def test_a_value_read_while_someone_changed_it_is_not_stored():
    cache = LocalTtlCache(lambda: 60.0)

    def load_racing_a_change():
        cache.discard("k")  # the row was saved (signal) while this load was reading the old one
        return "old"

    assert cache.get_or_load("k", load_racing_a_change) == "old"  # used for this call only
    assert cache.get_or_load("k", lambda: "new") == "new"


def test_clear_forgets_everything():
    cache = LocalTtlCache(lambda: 60.0)
    cache.get_or_load("a", lambda: 1)
    cache.get_or_load("b", lambda: 2)
    cache.clear()
    assert cache.get_or_load("a", lambda: 10) == 10 and cache.get_or_load("b", lambda: 20) == 20
