"""compose.cli.rawargs.split_args: the hand split of verbs that keep valued options away from
typer (config, convert)."""
from __future__ import annotations

import pytest

from compose.cli.rawargs import split_args

VALUED = {"-o": "output", "--output": "output", "--format": "format"}


class Usage(Exception):
    pass


def test_values_inline_or_next_flags_and_operands_in_order():
    parsed = split_args(["web", "--format", "json", "-o=out.yaml", "-h", "db", "--output", "x"],
                        VALUED, Usage, flags={"-h": "help", "--help": "help"})
    assert parsed.values == {"format": "json", "output": "x"}   # the last -o/--output wins
    assert parsed.operands == ("web", "db")
    assert parsed.flags == {"help"}


def test_an_inline_value_may_be_empty_or_hold_equals_signs():
    assert split_args(["--format=", "-o=a=b"], VALUED, Usage).values == {"format": "",
                                                                         "output": "a=b"}


@pytest.mark.parametrize("args, message", [
    (["web", "--format"], "option --format needs a value"),
    (["--nope"], "no such option: --nope"),
    (["-h"], "no such option: -h"),          # a flag only where the verb names it
    (["-"], "no such option: -"),
])
def test_bad_arguments_raise_the_verbs_usage_error(args, message):
    with pytest.raises(Usage) as e:
        split_args(args, VALUED, Usage)
    assert str(e.value) == message


def test_the_verb_words_its_unknown_option():
    with pytest.raises(Usage, match=r"^no such option for convert --to: -x$"):
        split_args(["-x"], VALUED, Usage, unknown="no such option for convert --to")
