""".dockerignore patterns (pure), with Docker's rules.

- One pattern per line; `#` lines are comments; surrounding whitespace is dropped.
- Patterns are cleaned like paths (`./a//b/` -> `a/b`) and a leading `/` is dropped: they are
  always relative to the context root.
- `*` and `?` match within one path component, `[...]` is a class, `**` matches any number of
  components (also none), the escape char `\\` quotes the next character.
- A pattern matching a directory excludes everything below it.
- `!pattern` re-includes; the LAST matching line decides.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Pattern:
    text: str
    exclusion: bool          # a `!` line
    regex: re.Pattern[str]

    def matches(self, path: str) -> bool:
        """The path itself or one of its parent directories matches."""
        if self.regex.match(path):
            return True
        parts = path.split("/")
        return any(self.regex.match("/".join(parts[:i])) for i in range(1, len(parts)))


def _clean(text: str) -> str:
    cleaned = posixpath.normpath(text)
    cleaned = cleaned.lstrip("/")
    return "" if cleaned == "." else cleaned


def compile_pattern(text: str) -> re.Pattern[str]:
    out, i, n = ["^"], 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "*":
            if text.startswith("**", i):
                # `**/` at a component start: any number of leading dirs (also none)
                if text.startswith("**/", i):
                    out.append("(?:.*/)?")
                    i += 3
                    continue
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = text.find("]", i + 1)
            if end < 0:
                out.append(re.escape(ch))
            else:
                body = text[i + 1:end]
                if body.startswith("^") or body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        elif ch == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(text[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return re.compile("".join(out))


def parse_patterns(text: str) -> list[Pattern]:
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        cleaned = _clean(line)
        if not cleaned:
            continue
        patterns.append(Pattern(cleaned, exclusion, compile_pattern(cleaned)))
    return patterns


class Matcher:
    def __init__(self, patterns: list[Pattern]) -> None:
        self.patterns = patterns
        self.has_exclusions = any(p.exclusion for p in patterns)

    @classmethod
    def from_text(cls, text: str) -> Matcher:
        return cls(parse_patterns(text))

    def ignored(self, path: str) -> bool:
        """Is the context-relative `path` (posix, no leading `/`) excluded?"""
        path = _clean(path)
        if not path:
            return False
        result = False
        for pattern in self.patterns:
            if pattern.exclusion == result and pattern.matches(path):
                result = not pattern.exclusion
        return result

    def may_descend(self, directory: str) -> bool:
        """Could anything below an ignored `directory` be re-included by a `!` pattern?"""
        if not self.ignored(directory):
            return True
        prefix = _clean(directory) + "/"
        for p in self.patterns:
            if p.exclusion and (p.text.startswith(prefix) or "*" in p.text or "?" in p.text
                                or "[" in p.text):
                return True
        return False
