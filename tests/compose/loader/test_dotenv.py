"""The env-file parser beyond the corpus: error locations, lookups, properties."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compose.errors import EnvFileError
from compose.loader.dotenv import parse_dotenv, read_env_files


def test_errors_name_the_file_and_line():
    with pytest.raises(EnvFileError) as caught:
        parse_dotenv("A=1\n\n# c\nB C=2\n", None, "/p/.env")
    assert str(caught.value) == "/p/.env: line 4: key cannot contain a space"


def test_unterminated_quote_reports_its_line():
    with pytest.raises(EnvFileError, match=r"line 2: unterminated quoted value"):
        parse_dotenv("A=1\nB=\"open\n", None, "x.env")


def test_interpolation_error_in_value_is_an_env_file_error():
    with pytest.raises(EnvFileError, match="x.env: required variable A is missing a value: need A"):
        parse_dotenv("B=${A:?need A}\n", {}, "x.env")


def test_lookup_wins_over_earlier_lines_but_file_values_are_kept():
    parsed = parse_dotenv("A=file\nB=${A}\nC\nD\n", {"A": "os", "C": "c"})
    assert parsed == {"A": "file", "B": "os", "C": "c"}


def test_crlf_line_endings():
    assert parse_dotenv("A=1\r\nB='2'\r\nC=\"3\"\r\n") == {"A": "1", "B": "2", "C": "3"}


def test_read_env_files_later_files_override_and_see_earlier(tmp_path):
    (tmp_path / "a.env").write_text("A=1\nB=from_a\n")
    (tmp_path / "b.env").write_text("B=${A}-b\n")
    assert read_env_files(["a.env", tmp_path / "b.env"], {}, base_dir=tmp_path) == \
        {"A": "1", "B": "1-b"}


def test_read_env_files_missing_or_directory(tmp_path):
    with pytest.raises(EnvFileError, match="couldn't find env file: .*/nope.env"):
        read_env_files([tmp_path / "nope.env"], {})
    with pytest.raises(EnvFileError, match="is a directory"):
        read_env_files([tmp_path], {})


# --- properties -------------------------------------------------------------------------------

keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,12}", fullmatch=True).filter(
    lambda k: not k.startswith("export"))
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


def double_quoted(value: str) -> str:
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
               .replace("\n", "\\n").replace("\t", "\\t"))
    return f'"{escaped}"'


@given(keys, text)
def test_double_quoted_value_round_trips(key, value):
    assert parse_dotenv(f"{key}={double_quoted(value)}\n", {}) == {key: value}


@given(keys, text.filter(lambda v: "'" not in v and "\\" not in v))
def test_single_quoted_value_round_trips_literally(key, value):
    source = f"export {key}='{value}' # comment\n"
    assert parse_dotenv(source, {"X": "unused"}) == {key: value}


@given(st.dictionaries(keys, text, max_size=6))
def test_a_written_file_reads_back(env):
    source = "".join(f"{k}={double_quoted(v)}\n" for k, v in env.items())
    assert parse_dotenv(source, {}) == env


def test_raw_format_takes_values_verbatim():
    from compose.loader.dotenv import parse_raw_env

    text = ("\ufeff# comment\n  A=${NOT} interpolated # kept \n"
            "B='quoted'\nC=\"x\ny\nD\nE\nF=a=b\r\nG=\n")
    assert parse_raw_env(text, {"D": "'from lookup'"}) == {
        "A": "${NOT} interpolated # kept ", "B": "'quoted'", "C": '"x', "D": "'from lookup'",
        "F": "a=b", "G": ""}
    with pytest.raises(EnvFileError, match="variable 'A B' contains whitespaces"):
        parse_raw_env("A B=1\n", None, "r.env")
    with pytest.raises(EnvFileError, match=r"^r.env: failed to parse env_file: no variable name"):
        parse_raw_env("=1\n", None, "r.env")
