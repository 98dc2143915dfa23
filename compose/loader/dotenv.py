"""`.env` / `env_file` parsing with compose-go's rules.

A statement is `[export ]KEY[=|:]VALUE` or a bare `KEY` (which takes its value from the lookup
when that has it, else defines nothing). Keys hold letters, digits, `_ . - [ ]`.

* unquoted values run to the end of the line, lose a ` #...` comment and trailing blanks,
  keep backslashes, and are interpolated;
* single-quoted values are literal (only `\\'` is unescaped) and may span lines;
* double-quoted values may span lines, understand `\\a \\b \\f \\n \\r \\t \\v \\\\ \\" \\$`
  and `\\0NNN` (octal), keep other backslash sequences verbatim, then are interpolated.

Interpolation (`${VAR:-default}` etc., see `interpolation`) looks a name up in the lookup first
and then in the variables defined earlier (in this text or in `into`).
"""
from __future__ import annotations

import json
import os.path
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from compose.errors import EnvFileError, InterpolationError
from compose.loader.interpolation import Lookup, Warn, lookup_function, substitute

__all__ = ["parse_dotenv", "parse_raw_env", "read_env_files"]

_BOM = "\ufeff"
_EXPORT = re.compile(r"export[\t\n\f\r ]+")
_ESCAPE = re.compile(r"\\(?:[abcfnrtv$\"\\]|0[0-9]{0,3})")
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
                   '"': '"', "\\": "\\"}
# blanks that separate tokens on one line (a newline ends a statement, so it is not one)
_BLANKS = frozenset("\t\v\f\r \x85\xa0")
_KEY_PUNCTUATION = frozenset("_.-[]")


class _ParseError(Exception):
    pass


def _unescape(match: re.Match[str]) -> str:
    sequence = match.group(0)
    char = sequence[1]
    if char == "$":
        return "$$"  # keeps the dollar literal through the interpolation that follows
    if char == "0":
        digits = sequence[2:]
        if len(digits) == 3 and all(d in "01234567" for d in digits) and int(digits, 8) < 256:
            return chr(int(digits, 8))
        return sequence
    return _SIMPLE_ESCAPES[char]


class _Parser:
    def __init__(self, text: str, out: dict[str, str], get: Callable[[str], str | None],
                 warn: Warn | None) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.out = out
        self.get = get
        self.warn = warn

    def run(self) -> None:
        while self._statement_start():
            key, inherited = self._key()
            if " " in key:
                raise _ParseError(f"line {self.line}: key cannot contain a space")
            if inherited:
                value = self.get(key)
                if value is not None:
                    self.out[key] = value
                continue
            self.out[key] = self._value()

    def _statement_start(self) -> bool:
        """Skip blank lines and comments; False at the end of the text."""
        text, n = self.text, len(self.text)
        while True:
            while self.pos < n and text[self.pos].isspace():
                if text[self.pos] == "\n":
                    self.line += 1
                self.pos += 1
            if self.pos >= n:
                return False
            if text[self.pos] != "#":
                return True
            end = text.find("\n", self.pos)
            if end < 0:
                self.pos = n
                return False
            self.pos = end

    def _skip_blanks(self) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n and text[self.pos] in _BLANKS:
            self.pos += 1

    def _key(self) -> tuple[str, bool]:
        text = self.text
        export = _EXPORT.match(text, self.pos)
        if export:
            self.pos += len("export")
            self._skip_blanks()
        start = self.pos
        key, inherited, after = "", False, start  # no separator: the value starts right here
        for index in range(start, len(text)):
            char = text[index]
            if char in _BLANKS:
                continue
            if char in "=:\n":
                key, inherited, after = text[start:index], char == "\n", index + 1
                break
            if char in _KEY_PUNCTUATION or char.isalpha() or char.isnumeric():
                continue
            first_line = text[start:].split("\n", 1)[0]
            raise _ParseError(f"line {self.line}: unexpected character {_quote(char)} in "
                              f"variable name {_quote(first_line)}")
        if inherited and " " not in key:
            self.line += 1
        self.pos = after
        self._skip_blanks()
        return key.rstrip(), inherited

    def _value(self) -> str:
        text = self.text
        quote = text[self.pos] if self.pos < len(text) else ""
        if quote not in ("'", '"'):
            end = text.find("\n", self.pos)
            raw = text[self.pos:end] if end >= 0 else text[self.pos:]
            self.pos = end + 1 if end >= 0 else len(text)
            self.line += 1
            raw = raw.split(" #", 1)[0].rstrip()
            return self._expand(raw)

        chars: list[str] = []
        escaped = False
        start_line = self.line
        for index in range(self.pos + 1, len(text)):
            char = text[index]
            if char == "\n":
                self.line += 1
            if char != quote:
                if char == "\\" and not escaped:
                    escaped = True
                    continue
                if escaped:
                    escaped = False
                    chars.append("\\")
                chars.append(char)
                continue
            if escaped:  # \" inside "..." or \' inside '...'
                escaped = False
                chars.append(char)
                continue
            self.pos = index + 1
            value = "".join(chars)
            if quote == '"':
                value = self._expand(_ESCAPE.sub(_unescape, value))
            return value
        first_line = text[self.pos:].split("\n", 1)[0]
        # compose-go reports the line where its scan ended (the end of the file); the line
        # where the value opens is what a user needs.
        raise _ParseError(f"line {start_line}: unterminated quoted value {first_line}")

    def _expand(self, value: str) -> str:
        if "$" not in value:
            return value
        get, out = self.get, self.out

        def lookup(name: str) -> str | None:
            found = get(name)
            return found if found is not None else out.get(name)

        return substitute(value, lookup, warn=self.warn)


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def parse_dotenv(text: str, lookup: Lookup | None = None, filename: str | None = None, *,
                 into: dict[str, str] | None = None, warn: Warn | None = None) -> dict[str, str]:
    """The variables an env file defines. `lookup` (a mapping or a function) answers bare
    `KEY` lines and, before earlier definitions, `${VAR}` references. With `into`, variables
    are added to that dict (earlier files' values are visible to this one) and it is returned.
    Errors name `filename` and the line: `.env: line 7: key cannot contain a space`."""
    out: dict[str, str] = {} if into is None else into
    if text.startswith(_BOM):
        text = text[1:]
    try:
        _Parser(text, out, lookup_function(lookup), warn).run()
    except _ParseError as err:
        raise EnvFileError(str(err), filename=filename) from None
    except InterpolationError as err:
        raise EnvFileError(err.detail, filename=filename) from None
    return out


def parse_raw_env(text: str, lookup: Lookup | None = None, filename: str | None = None, *,
                  into: dict[str, str] | None = None) -> dict[str, str]:
    """`env_file` entries with `format: raw`: docker's `--env-file` syntax (docker/cli kvfile).
    One `KEY=VALUE` per line, taken verbatim (no interpolation, no escapes, quotes kept: Compose v2
    keeps them); a bare `KEY` takes the lookup's value if it has one."""
    out: dict[str, str] = {} if into is None else into
    get = lookup_function(lookup)
    if text.startswith(_BOM):
        text = text[1:]
    for raw_line in text.split("\n"):
        line = raw_line[:-1] if raw_line.endswith("\r") else raw_line
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        key, has_value, value = line.partition("=")
        if not key:
            raise EnvFileError(f"failed to parse env_file: no variable name on line '{line}'",
                               filename=filename)
        if " " in key or "\t" in key:
            raise EnvFileError(f"failed to parse env_file: variable '{key}' contains whitespaces",
                               filename=filename)
        if has_value:
            out[key] = value
            continue
        found = get(line)
        if found is not None:
            out[key] = found
    return out


def read_env_files(paths: list[str | Path], current_env: Mapping[str, str], *,
                   base_dir: Path | None = None, warn: Warn | None = None) -> dict[str, str]:
    """The variables of `--env-file`s / `.env` (compose-go's GetEnvFromFile): files are read in
    order into one mapping (later files override earlier ones); `${VAR}` in them resolves from
    `current_env` first, then from what the files defined so far. Relative paths are taken from
    `base_dir` (default: the current directory)."""
    env: dict[str, str] = {}

    def lookup(name: str) -> str | None:
        value = current_env.get(name)
        return value if value is not None else env.get(name)

    for given in paths:
        path = Path(given)
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        path = Path(os.path.normpath(path))
        if not path.exists():
            raise EnvFileError(f"couldn't find env file: {path}")
        if path.is_dir():
            raise EnvFileError(f"{path} is a directory")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise EnvFileError(f"couldn't read env file: {path}: {err}") from None
        parse_dotenv(text, lookup, str(path), into=env, warn=warn)
    return env

