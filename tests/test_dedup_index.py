"""The LSH index in Redis (datasketch storage_config): shared by workers, pruned to the window."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from dedup import DedupSettings, Doc, KnownDoc, assign_stories
from dedup.index import SignatureIndex
from dedup.signatures import shingle_signatures

redis = pytest.importorskip("redis")
HOST, PORT = "127.0.0.1", 6379


@pytest.fixture
def redis_config():
    client = redis.Redis(host=HOST, port=PORT)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"no redis-server at {HOST}:{PORT}")
    base = f"nm_test_{uuid.uuid4().hex[:10]}"
    yield {"type": "redis", "redis": {"host": HOST, "port": PORT}, "basename": base}
    keys = list(client.scan_iter(match=f"{base}*"))
    if keys:
        client.delete(*keys)


TEXTS = {
    "a": "the quick brown fox jumps over the lazy dog by the river",
    "b": "the quick brown fox jumps over the lazy dog by the river bank",
    "c": "markets in asia fell after the central bank raised interest rates",
}


@pytest.mark.redis
def test_redis_index_is_shared_and_synced_to_the_window(redis_config):
    rows = dict(zip(TEXTS, shingle_signatures(list(TEXTS.values()), 1, 64, 1), strict=True))
    worker1 = SignatureIndex("dup", 64, 1, threshold=0.6, storage=redis_config)
    worker1.sync(rows)
    worker2 = SignatureIndex("dup", 64, 1, threshold=0.6, storage=redis_config)
    assert set(worker2.keys()) == {"a", "b", "c"}
    assert set(worker2.query(rows["a"])) == {"a", "b"}
    worker2.sync({"b": rows["b"], "c": rows["c"]})  # "a" left the window
    assert set(worker1.keys()) == {"b", "c"}
    assert set(worker1.query(rows["a"])) == {"b"}


@pytest.mark.redis
def test_assign_stories_with_redis_index_matches_in_process(redis_config):
    t = datetime(2026, 8, 13, tzinfo=UTC)
    docs = [Doc(k, None, "", v, t) for k, v in TEXTS.items()]
    local = assign_stories(docs[:2], [])
    known = [
        KnownDoc(d.id, None, "", d.text, t, story_id=m.story_id, signature=local.signatures[d.id])
        for d, m in zip(docs[:2], local.memberships, strict=True)
    ]
    shared = DedupSettings(index=redis_config)
    got = assign_stories(docs[2:], known, shared, now=t)
    want = assign_stories(docs[2:], known, now=t)
    assert got.memberships == want.memberships
    index = SignatureIndex("dup", 128, 1, threshold=0.7, storage=redis_config)
    assert set(index.keys()) == set(TEXTS)
