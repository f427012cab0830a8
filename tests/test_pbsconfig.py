"""PBS section-config files."""

from __future__ import annotations

from pbs_agent.pbsconfig import parse_section_config


def test_section_config_other_types_and_comments() -> None:
    secs = parse_section_config("# c\nsync: s1\n    store a\n    remote r\n\nprune: p\n")
    assert [(s.type, s.id, s.props) for s in secs] == [
        ("sync", "s1", {"store": "a", "remote": "r"}), ("prune", "p", {})]
