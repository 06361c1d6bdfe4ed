"""Behaviour a reader of the merged feed would notice: copies collapse, the same event from
several outlets becomes one story, unrelated news stays apart, later runs join earlier stories."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dedup import DedupSettings, Doc, KnownDoc, assign_stories, cluster
from dedup.evaluate import (
    evaluate_stories,
    neighbour_accuracy,
    render_story_report,
    score_clusters,
)
from dedup.evaluate import (
    main as evaluate_main,
)

T0 = datetime(2026, 8, 13, 9, tzinfo=UTC)
FIXTURE = Path(__file__).parent / "fixtures" / "stories" / "neus_sample.jsonl"

QUAKE_TEXT = (
    "A magnitude 7.1 earthquake struck off the coast of Miyazaki in southern Japan on Thursday, "
    "the Japan Meteorological Agency said, issuing a tsunami advisory for the Kyushu coast. "
    "Residents were told to stay away from beaches while officials checked the Sendai nuclear "
    "plant, which reported no abnormalities. Trains on the Kyushu shinkansen line were halted."
)
QUAKE = Doc(
    "bbc1",
    "BBC",
    "Japan earthquake: 7.1 quake off Miyazaki triggers tsunami advisory",
    QUAKE_TEXT,
    T0,
)
QUAKE_EDITED = Doc(
    "bbc2",
    "BBC",
    "Magnitude 7.1 earthquake hits southern Japan",
    QUAKE_TEXT,
    T0 + timedelta(hours=1),
)
QUAKE_AA = Doc(
    "aa1",
    "AA",
    "Tsunami advisory issued after 7.1 magnitude quake hits Japan's Kyushu",
    "A 7.1 magnitude earthquake hit Miyazaki prefecture on Japan's Kyushu island, prompting a "
    "tsunami advisory, according to the Japan Meteorological Agency. The Sendai nuclear plant "
    "showed no abnormalities, its operator said.",
    T0 + timedelta(hours=2),
)
STOCKS = Doc(
    "scmp1",
    "SCMP",
    "Hang Seng slides as Hong Kong tech stocks retreat",
    "Hong Kong stocks fell on Thursday, with the Hang Seng Index down 2.1 per cent as Alibaba "
    "and Tencent led losses among technology shares ahead of US inflation data.",
    T0,
)
ELECTION = Doc(
    "alj1",
    "Al Jazeera",
    "Kenya opposition rejects presidential election result",
    "Kenya's opposition coalition rejected the outcome of the presidential vote announced by the "
    "electoral commission in Nairobi, and said it would challenge it in the Supreme Court.",
    T0,
)


def by_id(assignment):
    return {m.article_id: m for m in assignment.memberships}


def test_same_event_from_two_outlets_is_one_story_and_unrelated_news_stays_apart():
    groups = cluster([QUAKE, QUAKE_AA, STOCKS, ELECTION])
    assert ["aa1", "bbc1"] in groups
    assert ["scmp1"] in groups and ["alj1"] in groups


def test_edited_headline_is_a_duplicate_with_evidence():
    a = by_id(assign_stories([QUAKE, QUAKE_EDITED, STOCKS], []))
    assert a["bbc2"].story_id == a["bbc1"].story_id == "st_bbc1"
    assert a["bbc2"].duplicate_of == "bbc1"
    assert a["bbc2"].jaccard >= DedupSettings().dup_threshold
    ev = a["bbc2"].evidence
    assert ev["reason"] == "duplicate" and ev["code_version"] and "dup_threshold" in ev
    founder = a["bbc1"]
    assert founder.matched_article_id is None and founder.evidence["reason"] == "founder"


def test_story_membership_records_match_score_and_thresholds():
    a = by_id(assign_stories([QUAKE, QUAKE_AA], []))
    m = a["aa1"]
    assert m.matched_article_id == "bbc1" and m.duplicate_of is None
    assert m.score >= m.evidence["edge_threshold"]
    assert 0.0 <= m.jaccard <= 1.0


def _known_from(assignment, docs):
    sid = {m.article_id: m.story_id for m in assignment.memberships}
    return [
        KnownDoc(
            d.id,
            d.outlet,
            d.title,
            d.text,
            d.published,
            story_id=sid[d.id],
            signature=assignment.signatures[d.id],
        )
        for d in docs
    ]


def test_second_run_joins_a_story_made_by_the_first():
    first = assign_stories([QUAKE, STOCKS], [], now=T0)
    known = _known_from(first, [QUAKE, STOCKS])
    second = assign_stories([QUAKE_AA, ELECTION], known, now=T0 + timedelta(hours=3))
    got = by_id(second)
    assert got["aa1"].story_id == "st_bbc1" and got["aa1"].matched_article_id == "bbc1"
    assert got["alj1"].story_id == "st_alj1"
    assert second.changed_story_ids == {"st_bbc1", "st_alj1"}
    assert set(second.signatures) == {"aa1", "alj1"}  # only new docs need persisting


def test_story_older_than_window_takes_no_members():
    first = assign_stories([QUAKE], [], now=T0)
    known = _known_from(first, [QUAKE])
    late = Doc(QUAKE_AA.id, "AA", QUAKE_AA.title, QUAKE_AA.text, T0 + timedelta(days=10))
    second = assign_stories(
        [late], known, DedupSettings(window_days=3), now=T0 + timedelta(days=10)
    )
    assert by_id(second)["aa1"].story_id == "st_aa1"


def test_far_apart_articles_are_not_one_story():
    late = Doc(QUAKE_AA.id, "AA", QUAKE_AA.title, QUAKE_AA.text, T0 + timedelta(days=30))
    assert ["aa1"] in cluster([QUAKE, late])


def test_deterministic_and_order_independent():
    docs = [QUAKE, QUAKE_EDITED, QUAKE_AA, STOCKS, ELECTION]
    a, b = assign_stories(docs, []), assign_stories(list(reversed(docs)), [])
    assert a.memberships == b.memberships and a.signatures == b.signatures


def test_one_bridging_roundup_does_not_chain_two_stories():
    bridge = Doc(
        "x1",
        "SCMP",
        "Asia briefing: what you need to know this morning",
        "A 7.1 magnitude earthquake hit Miyazaki in Japan, prompting a tsunami advisory. "
        "In markets, the Hang Seng Index fell as Alibaba and Tencent shares slid. "
        "Elsewhere, Singapore unveiled a new housing plan and Thailand's parliament met to "
        "debate the budget, while monsoon rains flooded parts of northern Vietnam.",
        T0,
    )
    stocks_aa = Doc(
        "aa2",
        "AA",
        "Hong Kong stocks fall as tech shares retreat",
        "Hong Kong's Hang Seng Index lost 2.1 percent on Thursday as technology shares "
        "including Alibaba and Tencent fell ahead of US inflation figures.",
        T0,
    )
    groups = cluster([QUAKE, QUAKE_AA, STOCKS, stocks_aa, bridge])
    assert not any({"bbc1", "scmp1"} <= set(g) for g in groups)


def test_settings_from_mapping_names_unknown_key():
    s = DedupSettings.from_mapping(
        {"dup_threshold": 0.8, "window_days": 5, "index": {"type": "dict"}}
    )
    assert s.dup_threshold == 0.8 and s.window_days == 5.0
    with pytest.raises(ValueError, match="dup_treshold"):
        DedupSettings.from_mapping({"dup_treshold": 0.8})
    with pytest.raises(ValueError, match="edge_threshold"):
        DedupSettings.from_mapping({"edge_threshold": 2})


def test_scores_are_standard_pairwise_and_bcubed():
    gold = {"a": "1", "b": "1", "c": "2", "d": "2"}
    perfect = score_clusters([["a", "b"], ["c", "d"]], gold)
    assert perfect["pairwise_f1"] == 1.0 and perfect["bcubed_f1"] == 1.0
    merged = score_clusters([["a", "b", "c", "d"]], gold)
    assert merged["pairwise_precision"] == pytest.approx(2 / 6)
    assert merged["bcubed_recall"] == 1.0 and merged["bcubed_precision"] == 0.5


def test_evaluate_real_sample_beats_nothing_and_reports_baseline():
    result = evaluate_stories(FIXTURE)
    for key in (
        "pairwise_precision",
        "pairwise_recall",
        "pairwise_f1",
        "bcubed_precision",
        "bcubed_recall",
        "bcubed_f1",
        "n_articles",
        "n_stories",
    ):
        assert key in result and key in result["baseline"]
    assert result["n_articles"] == 39
    assert result["bcubed_f1"] > 0.8
    assert "baseline" in render_story_report(result)


DAVOS = Path(__file__).parent / "fixtures" / "merge" / "davos.jsonl"
DAVOS_DAY = datetime(2026, 1, 22, tzinfo=UTC)
# Same days, same places and people, other events: they must stay out of the golden story.
DAVOS_OTHERS = [
    Doc(
        "o_greenland",
        "AA",
        "Trump tells Davos the US must have Greenland, threatens tariffs on Denmark",
        "US President Donald Trump told the World Economic Forum in Davos on Wednesday that the "
        "United States needed Greenland for its security and threatened tariffs on Denmark and "
        "other European allies that opposed the plan. Danish Prime Minister Mette Frederiksen "
        "said the island was not for sale.",
        DAVOS_DAY + timedelta(hours=3),
    ),
    Doc(
        "o_zaporizhzhia",
        "BBC",
        "Zaporizhzhia nuclear plant loses last external power line, IAEA says",
        "The Zaporizhzhia nuclear power plant in southern Ukraine has lost its last external "
        "power line and is running on diesel generators, the International Atomic Energy Agency "
        "said. IAEA chief Rafael Grossi called for a local ceasefire so engineers could repair "
        "the line, which was damaged by shelling near the Russian-occupied site.",
        DAVOS_DAY + timedelta(hours=5),
    ),
    Doc(
        "o_swap",
        "Al Jazeera",
        "Russia and Ukraine swap 150 prisoners of war in UAE-mediated exchange",
        "Russia and Ukraine have exchanged 150 prisoners of war each in a swap mediated by the "
        "United Arab Emirates, the defence ministry in Moscow said. Ukraine's coordination "
        "headquarters said the freed soldiers included defenders of Mariupol held since 2022.",
        DAVOS_DAY + timedelta(hours=6),
    ),
    Doc(
        "o_avalanche",
        "SCMP",
        "Avalanche warning in Swiss Alps as heavy snow cuts off resorts",
        "Swiss authorities raised the avalanche warning to its highest level after heavy "
        "snowfall cut road and rail links to several resorts in the canton of Graubunden, "
        "where thousands of visitors were stranded.",
        DAVOS_DAY + timedelta(hours=2),
    ),
]


def _davos_docs() -> list[Doc]:
    import json

    from dedup.evaluate import _parse_time

    docs = []
    for line in DAVOS.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        docs.append(
            Doc(row["id"], row["outlet"], row["title"], row["text"], _parse_time(row["published"]))
        )
    return docs


def test_neighbour_accuracy_says_how_separable_a_set_is(capsys):
    """The ceiling diagnostic: the share of articles whose most similar article is of their
    own story, per similarity, on the real labelled sample."""
    result = neighbour_accuracy(FIXTURE, DedupSettings(encoder="none"))
    assert result["encoder"] == "none" and "mix" not in result
    assert 0.8 <= result["tfidf"] <= 1.0
    assert result["articles"] <= 39
    assert evaluate_main([str(FIXTURE), "--neighbours", "--encoder", "none"]) == 0
    assert f"tfidf {result['tfidf']:.3f}" in capsys.readouterr().out


def test_half_scores_the_stories_a_finetuning_run_held_out(capsys):
    """`--half even|odd`: the two seeded halves split stories, not articles, and together are
    the whole file, so a model tuned on one half is scored on stories it never saw."""
    settings = DedupSettings(encoder="none")
    whole = evaluate_stories(FIXTURE, settings)
    even = evaluate_stories(FIXTURE, settings, half="even")
    odd = evaluate_stories(FIXTURE, settings, half="odd")
    assert even["n_articles"] + odd["n_articles"] == whole["n_articles"]
    assert even["gold_stories"] + odd["gold_stories"] == whole["gold_stories"]
    assert odd["half"] == "odd" and 0 < odd["n_articles"] < whole["n_articles"]
    assert evaluate_main([str(FIXTURE), "--half", "odd", "--encoder", "none", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_articles"] == odd["n_articles"]


def test_golden_davos_story_told_in_other_words_is_one_story():
    """SCMP/AA (Witkoff to meet Putin) and BBC/Al Jazeera (Zelensky in Davos to meet Trump)
    tell one event in different words: one story, with unrelated same-day news kept apart."""
    davos = _davos_docs()
    assert {d.outlet for d in davos} == {"SCMP", "AA", "BBC", "Al Jazeera"}
    got = by_id(assign_stories(davos + DAVOS_OTHERS, [], now=DAVOS_DAY + timedelta(days=1)))
    stories = {got[d.id].story_id for d in davos}
    assert len(stories) == 1, {d.outlet: got[d.id].story_id for d in davos}
    for other in DAVOS_OTHERS:
        assert got[other.id].story_id not in stories, other.id
    for d in davos:
        m = got[d.id]
        assert m.evidence["reason"] in {"founder", "same_story", "duplicate"}


def test_golden_davos_story_joins_across_two_runs():
    davos = _davos_docs()
    first_docs = [d for d in davos if d.outlet in {"SCMP", "AA"}] + DAVOS_OTHERS[:2]
    first = assign_stories(first_docs, [], now=DAVOS_DAY + timedelta(hours=8))
    known = _known_from(first, first_docs)
    rest = [d for d in davos if d.outlet in {"BBC", "Al Jazeera"}] + DAVOS_OTHERS[2:]
    second = by_id(assign_stories(rest, known, now=DAVOS_DAY + timedelta(hours=12)))
    sid = {m.article_id: m.story_id for m in first.memberships}
    scmp = next(d.id for d in davos if d.outlet == "SCMP")
    for d in rest[:2]:
        assert second[d.id].story_id == sid[scmp]
        assert second[d.id].evidence["reason"] == "same_story"
    for d in DAVOS_OTHERS[2:]:
        assert second[d.id].story_id != sid[scmp]


def test_evaluate_grid_scores_every_cell_and_names_the_best(capsys):
    """`newsmerge evaluate stories PATH --grid KEY=V1,V2`: how a deployment tunes a threshold
    on its own labelled stories. An edge bar nothing passes leaves every article alone, so the
    usual bar must come out best; each row is the same as a single run at that setting."""
    from newsmerge.cli import main as cli

    argv = ["evaluate", "stories", str(FIXTURE), "--encoder", "none"]
    assert cli([*argv, "--grid", "edge_threshold=0.15,0.99", "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert [c["settings"] for c in result["cells"]] == [
        {"edge_threshold": 0.15},
        {"edge_threshold": 0.99},
    ]
    usual, strict = result["cells"]
    assert strict["n_stories"] == result["n_articles"] and strict["pairwise_recall"] == 0.0
    assert result["best"] == 0 and usual["pairwise_f1"] > 0.5
    single = evaluate_stories(FIXTURE, DedupSettings(encoder="none", edge_threshold=0.15))
    assert usual["pairwise_f1"] == single["pairwise_f1"]
    assert "[2/2] edge_threshold=0.99" in captured.err  # progress, off the JSON stream
    # the table: a row per cell, then the best cell by name
    assert cli([*argv, "--grid", "edge_threshold=0.15,0.99", "--grid", "knn_k=0,10"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.lstrip().startswith(("0.15", "0.99"))]
    assert len(rows) == 4
    assert "best pairwise F1: edge_threshold=0.15" in out


def test_evaluate_runs_under_the_configs_dedup_settings(tmp_path, capsys):
    """ "The production settings": the config's [dedup] table, as the pipeline reads it, then
    --set on top; a mistyped key stops with its name instead of being ignored."""
    from newsmerge.cli import main as cli
    from newsmerge.config import DEFAULT_CONFIG

    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    assert '\nencoder = "auto"\n' in text
    config = tmp_path / "strict.toml"
    config.write_text(
        text.replace('\nencoder = "auto"\n', '\nencoder = "none"\nedge_threshold = 0.99\n'),
        encoding="utf-8",
    )
    argv = ["evaluate", "stories", str(FIXTURE), "--config", str(config), "--json"]
    assert cli(argv) == 0
    strict = json.loads(capsys.readouterr().out)
    assert strict["encoder"] == "none" and strict["n_stories"] == strict["n_articles"]
    assert cli([*argv, "--set", "edge_threshold=0.15"]) == 0
    usual = json.loads(capsys.readouterr().out)
    assert usual["n_stories"] < usual["n_articles"]
    assert (
        usual["pairwise_f1"]
        == evaluate_stories(FIXTURE, DedupSettings(encoder="none", edge_threshold=0.15))[
            "pairwise_f1"
        ]
    )
    assert cli([*argv, "--set", "edge_treshold=0.2"]) == 2
    assert "dedup.edge_treshold: unknown setting" in capsys.readouterr().err
    assert cli([*argv, "--grid", "embedding_edge=0.6,high"]) == 2
    assert "dedup.embedding_edge: expected a number, got 'high'" in capsys.readouterr().err
    assert cli(["evaluate", "merge", str(FIXTURE), "--grid", "knn_k=0,10"]) == 2
    assert "apply to `newsmerge evaluate stories`" in capsys.readouterr().err


def test_command_line_settings_read_as_toml_values():
    from dedup.evaluate import parse_grid, parse_setting

    assert parse_setting("knn_k=10") == ("knn_k", 10)
    assert parse_setting("embedding_edge = 0.65") == ("embedding_edge", 0.65)
    assert parse_setting("encoder=mpnet-base-v2-news") == ("encoder", "mpnet-base-v2-news")
    assert parse_setting('index={type = "dict"}') == ("index", {"type": "dict"})
    assert parse_grid("embedding_weight=0.4,0.5") == ("embedding_weight", [0.4, 0.5])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_setting("embedding_edge")
