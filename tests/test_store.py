"""The store on SQLite and on a real PostgreSQL: idempotent, never downgrades, keeps evidence."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from newsmerge.models import Article, Membership
from newsmerge.store import Store

T0 = datetime(2026, 8, 13, 4, 0, tzinfo=UTC)


def article(n: int, outlet: str = "BBC", **changes) -> Article:
    base = Article(
        outlet=outlet,
        url=f"https://www.bbc.co.uk/news/articles/{n}",
        guid=f"guid-{n}",
        title=f"Headline {n}",
        summary=f"Summary {n}",
        text=f"Body of article {n}.",
        text_source="page",
        published=T0 + timedelta(minutes=n),
        fetched=T0 + timedelta(hours=1),
        feed_url="https://feeds.bbci.co.uk/news/world/rss.xml",
    )
    return replace(base, **changes)


def test_same_article_twice_or_in_two_feeds_is_one_row(store_url):
    with Store(store_url) as store:
        first = store.upsert_articles([article(1), article(2), article(1)])
        again = store.upsert_articles([article(1, feed_url="https://other/feed"), article(2)])
        assert len(first.new) == 2
        assert again.new == () and len(again.unchanged) == 2
        assert store.counts()["articles"] == 2


def test_edited_headline_updates_the_row_and_dirties_its_story(store_url):
    with Store(store_url) as store:
        a = article(1)
        store.upsert_articles([a])
        store.save_assignment([Membership(a.id, "st_1", None, None, None)], {a.id: b"sig"})
        store.save_composite(
            "st_1",
            headline="h",
            primary_outlet="BBC",
            outlets=["BBC"],
            n_articles=1,
            text="t",
            data={},
            version="v",
            built_from=store.story_updated_at("st_1"),
        )
        assert store.dirty_stories() == []
        counts = store.upsert_articles([article(1, title="Headline 1, updated")])
        assert counts.updated == (a.id,)
        assert store.articles_by_id([a.id])[0]["title"] == "Headline 1, updated"
        assert store.dirty_stories() == ["st_1"]
        assert store.counts()["articles"] == 1


def test_page_text_is_never_downgraded_to_the_summary(store_url):
    with Store(store_url) as store:
        store.upsert_articles([article(1)])
        store.upsert_articles([article(1, text="Summary 1", text_source="summary")])
        row = store.articles_by_id([article(1).id])[0]
        assert (row["text"], row["text_source"]) == ("Body of article 1.", "page")
        assert store.page_urls("BBC") == {article(1).url}


def test_times_come_back_timezone_aware_utc(store_url):
    with Store(store_url) as store:
        store.upsert_articles([article(1)])
        row = store.articles_by_id([article(1).id])[0]
        assert row["published"] == article(1).published
        assert row["published"].tzinfo is not None


def test_unassigned_articles_are_the_dedup_work_list_until_assigned(store_url):
    with Store(store_url) as store:
        store.upsert_articles([article(1), article(2)])
        assert [r["id"] for r in store.unassigned_articles()] == [article(1).id, article(2).id]
        m = Membership(article(1).id, "st_a", None, None, None, evidence={"why": "founder"})
        store.save_assignment([m], {article(1).id: b"\x01\x02"})
        store.save_assignment([m], {})  # a retried task stores nothing twice
        assert [r["id"] for r in store.unassigned_articles()] == [article(2).id]
        active = store.active_articles(T0 - timedelta(days=1))
        assert [(r["id"], r["story_id"], r["signature"]) for r in active] == [
            (article(1).id, "st_a", b"\x01\x02")
        ]
        assert store.active_articles(T0 + timedelta(days=3)) == []
        assert store.counts()["memberships"] == 1


def test_relabel_moves_members_of_merged_stories(store_url):
    with Store(store_url) as store:
        store.upsert_articles([article(1), article(2)])
        store.save_assignment(
            [
                Membership(article(1).id, "st_a", None, None, None),
                Membership(article(2).id, "st_b", None, None, None),
            ],
            {},
        )
        store.save_assignment([], {}, relabel={"st_b": "st_a"})
        assert {r["id"] for r in store.story_articles("st_a")} == {article(1).id, article(2).id}
        assert store.counts()["stories"] == 1


def test_feed_state_remembers_validators_and_counts_failures(store_url):
    url = "https://feeds.bbci.co.uk/news/world/rss.xml"
    with Store(store_url) as store:
        store.record_feed(
            "BBC", url, "ok", etag='"abc"', last_modified="Thu, 13 Aug 2026 04:23:37 GMT"
        )
        store.record_feed("BBC", url, "not_modified")
        state = store.feed_states("BBC")[url]
        assert (state.etag, state.consecutive_failures) == ('"abc"', 0)
        store.record_feed("BBC", url, "failed", error="HTTP 503")
        store.record_feed("BBC", url, "failed", error="HTTP 503")
        state = store.feed_states()[url]
        assert state.consecutive_failures == 2 and state.last_error == "HTTP 503"
        assert state.etag == '"abc"'  # a failure does not forget the validators


def test_concurrent_writers_never_duplicate_or_lose(store_url):
    # Twelve runs open one new store at once: on SQLite the switch to WAL used to fail with
    # "database is locked" now and then (1 in 60 tries with 13 writers) before it waited.
    batches = [[article(n) for n in range(k, k + 30)] for k in (0, 10, 20, 0, *range(2, 20, 2))]
    errors: list[BaseException] = []

    def write(batch):
        try:
            with Store(store_url) as store:
                store.upsert_articles(batch)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Store(store_url) as store:
        assert store.counts()["articles"] == 50
