"""A bad config stops with an error that names the file, the key and what was expected."""

from __future__ import annotations

import pytest

from newsmerge.config import ConfigError, load_config

GOOD_OUTLET = """
[[outlets]]
name = "BBC"
feeds = ["https://feeds.bbci.co.uk/news/world/rss.xml"]
domains = ["bbc.co.uk", "bbc.com"]
"""


def write(tmp_path, text: str):
    path = tmp_path / "outlets.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_lists_the_four_outlets_with_feeds_and_domains():
    config = load_config()
    assert [o.name for o in config.outlets] == ["SCMP", "AA", "BBC", "Al Jazeera"]
    for outlet in config.outlets:
        assert outlet.feeds and all(f.startswith("https://") for f in outlet.feeds)
        assert outlet.domains
    assert config.outlet("Al Jazeera").allows_host("www.aljazeera.com")
    assert not config.outlet("Al Jazeera").allows_host("evil-aljazeera.com")
    assert config.store_url.startswith("sqlite:///")


def test_adding_an_outlet_is_a_few_lines(tmp_path):
    config = load_config(write(tmp_path, GOOD_OUTLET + GOOD_OUTLET.replace('"BBC"', '"Reuters"')))
    assert [o.name for o in config.outlets] == ["BBC", "Reuters"]
    assert config.outlets[1].module == "generic"


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("", "outlets", "at least one [[outlets]] table"),
        (
            GOOD_OUTLET.replace('feeds = ["https', 'feeds = ["ftp'),
            "outlets[0].feeds[0]",
            "http(s) URL",
        ),
        (
            GOOD_OUTLET.replace('domains = ["bbc.co.uk", "bbc.com"]', "domains = []"),
            "outlets[0].domains",
            "non-empty list",
        ),
        (GOOD_OUTLET.replace('name = "BBC"', "name = 3"), "outlets[0].name", "credit name"),
        (
            '[polling]\nread_timeout_s = "soon"\n' + GOOD_OUTLET,
            "polling.read_timeout_s",
            "a number",
        ),
        ("[polling]\nfetch_pages = 1\n" + GOOD_OUTLET, "polling.fetch_pages", "true or false"),
        ("[polling]\nmax_retries = true\n" + GOOD_OUTLET, "polling.max_retries", "a whole number"),
        ("[polling]\nretries = 3\n" + GOOD_OUTLET, "polling.retries", "one of"),
        (GOOD_OUTLET + GOOD_OUTLET, "outlets", "unique outlet names"),
        ('[store]\nurl = "newsmerge.db"\n' + GOOD_OUTLET, "store.url", "SQLAlchemy URL"),
        ("outlets = [", "(file)", "valid TOML"),
    ],
)
def test_bad_config_names_file_key_and_expectation(tmp_path, text, key, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {key}: expected")
    assert expected in message


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="expected an existing TOML file"):
        load_config(tmp_path / "nope.toml")


def test_store_url_override_beats_the_file(tmp_path, monkeypatch):
    path = write(tmp_path, GOOD_OUTLET)
    monkeypatch.setenv("NEWSMERGE_STORE_URL", "sqlite:///from-env.db")
    assert load_config(path).store_url == "sqlite:///from-env.db"
    assert load_config(path, store_url="sqlite:///arg.db").store_url == "sqlite:///arg.db"
