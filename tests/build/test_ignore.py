""".dockerignore matching with Docker's rules (pure)."""
from __future__ import annotations

from engine.dockerignore import Matcher


def m(text: str) -> Matcher:
    return Matcher.from_text(text)


def test_plain_names_and_directories_exclude_their_contents():
    matcher = m("node_modules\n# a comment\n\n  build/  \n")
    assert matcher.ignored("node_modules")
    assert matcher.ignored("node_modules/x/y.js")
    assert matcher.ignored("build/out.o")
    assert not matcher.ignored("src/node_modules")   # patterns are anchored at the root
    assert not matcher.ignored("buildx")


def test_star_and_question_stay_in_one_component():
    matcher = m("*.log\ndocs/?.md\n")
    assert matcher.ignored("a.log")
    assert not matcher.ignored("sub/a.log")
    assert matcher.ignored("docs/a.md")
    assert not matcher.ignored("docs/ab.md")


def test_double_star_matches_any_depth():
    matcher = m("**/*.pyc\nsrc/**/tmp\n")
    assert matcher.ignored("x.pyc")
    assert matcher.ignored("a/b/c/x.pyc")
    assert matcher.ignored("src/tmp")
    assert matcher.ignored("src/a/b/tmp/file")
    assert not matcher.ignored("lib/tmp")


def test_exceptions_and_last_match_wins():
    matcher = m("*.md\n!README.md\n")
    assert matcher.ignored("CHANGES.md")
    assert not matcher.ignored("README.md")
    later = m("!README.md\n*.md\n")
    assert later.ignored("README.md")
    nested = m("docs\n!docs/keep.txt\n")
    assert nested.ignored("docs/other.txt")
    assert not nested.ignored("docs/keep.txt")
    assert nested.may_descend("docs")
    assert not m("docs\n").may_descend("docs")


def test_paths_are_cleaned_and_leading_slash_dropped():
    matcher = m("/secret.txt\n./a//b/\n")
    assert matcher.ignored("secret.txt")
    assert matcher.ignored("a/b/c")
    assert not matcher.ignored("")


def test_character_classes_and_escapes():
    matcher = m("file[0-9].txt\nweird\\*name\n")
    assert matcher.ignored("file3.txt")
    assert not matcher.ignored("filex.txt")
    assert matcher.ignored("weird*name")
    assert not matcher.ignored("weirdXname")
