"""Post links staff paste: the spellings a stored address is matched against."""

from __future__ import annotations

import pytest

from crosspost.routing import post_link


def test_a_pasted_link_matches_the_canonical_form() -> None:
    found = post_link("  <HTTP://Max.RU/c70000000000001/mid.00ab/?utm_source=share#top>  ")
    assert found is not None
    assert "https://max.ru/c70000000000001/mid.00ab" in found.urls
    assert "https://max.ru/c70000000000001/mid.00ab/" in found.urls
    assert found.last_part == "mid.00ab"


def test_a_port_is_kept() -> None:
    found = post_link("http://127.0.0.1:8081/c1/mid.1")
    assert found is not None
    assert "http://127.0.0.1:8081/c1/mid.1" in found.urls


@pytest.mark.parametrize("text", ["", "mid.00ab", "ftp://max.ru/x", "https://", "http://[::1"])
def test_what_is_not_a_web_address(text: str) -> None:
    assert post_link(text) is None
