"""Dockerfile parsing (pure): text -> stages of instructions, plus Docker's word/variable rules.

Parsing keeps each instruction's argument text unexpanded: variables are substituted later, per
stage, when the builder knows the ARG and ENV values in effect (`expand_words`, `expand_word`).
Every error names the Dockerfile line: `Dockerfile:7: unknown instruction: FOO`.

Differences from BuildKit (deliberate): heredocs (`<<EOF`) are not supported; `# syntax=` is
read and ignored (there is no frontend to switch to); `ONBUILD` triggers are stored in the image
config but not run when the image is used as a base.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from engine.errors import BadParameter

INSTRUCTIONS = frozenset({
    "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
    "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"})

# Instructions whose arguments Docker runs through variable substitution.
EXPANDED = frozenset({"ADD", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER",
                      "VOLUME", "WORKDIR", "ARG"})

# Flags each instruction accepts (name -> may repeat).
FLAGS: dict[str, dict[str, bool]] = {
    "FROM": {"platform": False},
    "RUN": {"mount": True, "network": False, "security": False},
    "COPY": {"from": False, "chown": False, "chmod": False, "link": False, "parents": False,
             "exclude": True},
    "ADD": {"chown": False, "chmod": False, "link": False, "checksum": False, "keep-git-dir": False,
            "exclude": True},
    "HEALTHCHECK": {"interval": False, "timeout": False, "start-period": False,
                    "start-interval": False, "retries": False},
}

_HEREDOC = re.compile(r"(?<![<\w])<<-?[\"']?[A-Za-z_][A-Za-z0-9_]*[\"']?(?=\s|$)")
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(.*?)\s*$")


class DockerfileError(BadParameter):
    """A Dockerfile problem; the message starts with `<file>:<line>: `."""

    def __init__(self, message: str, *, filename: str = "Dockerfile", line: int | None = None):
        super().__init__(f"{filename}:{line}: {message}" if line else f"{filename}: {message}")
        self.line = line


@dataclass(frozen=True)
class Instruction:
    cmd: str                                  # upper case: "RUN"
    line: int                                 # 1-based line where it starts
    text: str                                 # argument text after the flags (continuations joined)
    flags: tuple[tuple[str, str], ...] = ()   # ("mount", "type=secret,id=x"), in order
    exec_form: tuple[str, ...] | None = None  # JSON form arguments, when given as JSON
    original: str = ""                        # "RUN --mount=... echo hi", for history/messages

    def flag(self, name: str, default: str | None = None) -> str | None:
        values = [v for k, v in self.flags if k == name]
        return values[-1] if values else default

    def flag_all(self, name: str) -> list[str]:
        return [v for k, v in self.flags if k == name]


@dataclass(frozen=True)
class Stage:
    index: int
    name: str | None                          # `AS name` (lower-cased, like Docker)
    base: str                                 # image reference text, unexpanded
    platform: str | None
    line: int
    instructions: tuple[Instruction, ...] = ()


@dataclass(frozen=True)
class Dockerfile:
    meta_args: tuple[Instruction, ...]        # ARGs before the first FROM
    stages: tuple[Stage, ...]
    escape: str = "\\"
    filename: str = "Dockerfile"

    def stage_index(self, name_or_index: str) -> int | None:
        """A stage by `AS` name or by number (COPY --from=0); None when neither."""
        lowered = name_or_index.lower()
        for stage in self.stages:
            if stage.name == lowered:
                return stage.index
        if name_or_index.isdigit() and int(name_or_index) < len(self.stages):
            return int(name_or_index)
        return None


@dataclass
class _Logical:
    line: int
    text: str
    parts: list[str] = field(default_factory=list)


def _directives(lines: list[str]) -> tuple[str, int]:
    """The escape character from the leading `# escape=` directive; lines the directives use."""
    escape, used, seen = "\\", 0, set()
    for raw in lines:
        m = _DIRECTIVE.match(raw.strip()) if raw.strip().startswith("#") else None
        if not m:
            break
        key = m.group(1).lower()
        if key in seen:
            break
        seen.add(key)
        if key == "escape":
            if m.group(2) not in ("\\", "`"):
                raise DockerfileError(f"invalid escape token '{m.group(2)}' does not validate",
                                      line=used + 1)
            escape = m.group(2)
        used += 1
    return escape, used


def logical_lines(text: str, escape: str, skip: int = 0) -> list[tuple[int, str]]:
    """Join continuation lines; drop comments and blank lines. (start line, joined text).

    Like Docker, a comment line inside a continuation is dropped and does not end it."""
    out: list[tuple[int, str]] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if number <= skip:
            continue
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not current:
            start = number
        body = raw.rstrip() if current else raw.strip()
        if body.endswith(escape):
            current.append(body[:-1])       # Docker concatenates without adding a space
            continue
        current.append(body)
        out.append((start, "".join(current).strip()))
        current = []
    if current:
        out.append((start, "".join(current).strip()))
    return out


def _split_flags(cmd: str, rest: str, line: int, filename: str
                 ) -> tuple[tuple[tuple[str, str], ...], str]:
    allowed = FLAGS.get(cmd, {})
    flags: list[tuple[str, str]] = []
    while rest.startswith("--"):
        word, tail = (rest.split(None, 1) + [""])[:2]
        name, eq, value = word[2:].partition("=")
        if name not in allowed:
            raise DockerfileError(f"unknown flag: --{name}", filename=filename, line=line)
        if not eq and name not in ("link", "parents", "keep-git-dir"):
            raise DockerfileError(f"missing a value on flag: --{name}", filename=filename,
                                  line=line)
        if not allowed[name] and any(k == name for k, _ in flags):
            raise DockerfileError(f"duplicate flag specified: --{name}", filename=filename,
                                  line=line)
        flags.append((name, value if eq else "true"))
        rest = tail.lstrip()
    return tuple(flags), rest


def _json_args(text: str) -> tuple[str, ...] | None:
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None     # Docker treats a non-JSON "[..." as shell form
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return tuple(value)


def parse(text: str, filename: str = "Dockerfile") -> Dockerfile:
    """Parse a Dockerfile; raises DockerfileError naming the line."""
    lines = text.splitlines()
    escape, skip = _directives(lines)
    meta: list[Instruction] = []
    stages: list[Stage] = []
    body: list[Instruction] = []
    for number, logical in logical_lines(text, escape, skip):
        word, rest = (logical.split(None, 1) + [""])[:2]
        cmd = word.upper()
        if cmd not in INSTRUCTIONS:
            raise DockerfileError(f"unknown instruction: {word}", filename=filename, line=number)
        rest = rest.strip()
        flags, rest = _split_flags(cmd, rest, number, filename)
        instr = Instruction(cmd, number, rest, flags, _json_args(rest), logical)
        _check(instr, filename)
        if cmd == "FROM":
            if stages:
                stages[-1] = _with_body(stages[-1], body)
            body = []
            stages.append(_stage(instr, len(stages), filename, stages))
        elif not stages:
            if cmd != "ARG":
                raise DockerfileError("no build stage in current context (a Dockerfile must "
                                      "start with FROM, after optional ARGs)",
                                      filename=filename, line=number)
            meta.append(instr)
        else:
            body.append(instr)
    if not stages:
        raise DockerfileError("file with no instructions" if not meta else "missing FROM",
                              filename=filename)
    stages[-1] = _with_body(stages[-1], body)
    return Dockerfile(tuple(meta), tuple(stages), escape, filename)


def _with_body(stage: Stage, body: list[Instruction]) -> Stage:
    return Stage(stage.index, stage.name, stage.base, stage.platform, stage.line, tuple(body))


def _stage(instr: Instruction, index: int, filename: str, previous: list[Stage]) -> Stage:
    words = instr.text.split()
    name = None
    if len(words) == 3 and words[1].lower() == "as":
        name = words[2].lower()
        if not re.fullmatch(r"[a-z][a-z0-9._-]*", name):
            raise DockerfileError(f"invalid name for build stage: \"{words[2]}\", name can't "
                                  "start with a number or contain symbols",
                                  filename=filename, line=instr.line)
        if any(s.name == name for s in previous):
            raise DockerfileError(f"duplicate stage name \"{name}\"", filename=filename,
                                  line=instr.line)
    elif len(words) != 1:
        raise DockerfileError("FROM requires either one or three arguments", filename=filename,
                              line=instr.line)
    return Stage(index, name, words[0], instr.flag("platform"), instr.line)


def _check(instr: Instruction, filename: str) -> None:
    """Argument-count checks Docker makes while parsing."""
    cmd, text = instr.cmd, instr.text

    def fail(msg: str) -> None:
        raise DockerfileError(msg, filename=filename, line=instr.line)

    if not text and cmd not in ("CMD", "ENTRYPOINT", "RUN"):
        fail(f"{cmd} requires at least one argument")
    if cmd == "RUN" and not text:
        fail("RUN requires at least one argument")
    if cmd in ("RUN", "COPY", "ADD") and instr.exec_form is None and _HEREDOC.search(text):
        fail("heredocs (<<EOF) are not supported; use a script file or RUN with \\ lines")
    if cmd in ("COPY", "ADD"):
        words = instr.exec_form if instr.exec_form is not None else tuple(text.split())
        if len(words) < 2:
            fail(f"{cmd} requires at least two arguments, but only one was provided. "
                 "Destination could not be determined")
    if cmd == "SHELL" and (instr.exec_form is None or not instr.exec_form):
        fail("SHELL requires the arguments to be in JSON form")
    if cmd in ("USER", "WORKDIR", "STOPSIGNAL") and len(text.split()) != 1 and cmd != "WORKDIR":
        fail(f"{cmd} requires exactly one argument")
    if cmd == "HEALTHCHECK":
        kind = text.split()[0].upper()
        if kind not in ("NONE", "CMD"):
            fail(f"Unknown type \"{text.split()[0]}\" in HEALTHCHECK (try CMD)")
        if kind == "NONE" and (len(text.split()) > 1 or instr.flags):
            fail("HEALTHCHECK NONE takes no arguments")
        if kind == "CMD" and len(text.split(None, 1)) < 2:
            fail("Missing command after HEALTHCHECK CMD")
    if cmd == "ONBUILD":
        inner = text.split()[0].upper()
        if inner in ("ONBUILD", "FROM", "MAINTAINER"):
            fail(f"{inner} isn't allowed as an ONBUILD trigger")
        if inner not in INSTRUCTIONS:
            fail(f"unknown instruction: {text.split()[0]}")


# -- words and variables ---------------------------------------------------------------------

class _Lexer:
    """Docker's shell-word rules: quotes, the escape char, $VAR, ${VAR}, ${VAR:-x}, ${VAR:+x},
    ${VAR-x}, ${VAR+x}, ${VAR:?msg}."""

    def __init__(self, text: str, env: dict[str, str], escape: str, line: int,
                 filename: str) -> None:
        self.text, self.env, self.escape = text, env, escape
        self.pos, self.line, self.filename = 0, line, filename

    def fail(self, msg: str) -> None:
        raise DockerfileError(msg, filename=self.filename, line=self.line)

    def words(self, split: bool) -> list[str]:
        words: list[str] = []
        cur: list[str] = []
        started = False
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if split and ch in " \t":
                if started:
                    words.append("".join(cur))
                    cur, started = [], False
                self.pos += 1
                continue
            started = True
            if ch == "'":
                end = self.text.find("'", self.pos + 1)
                if end < 0:
                    self.fail("unexpected end of statement while looking for matching '")
                cur.append(self.text[self.pos + 1:end])
                self.pos = end + 1
            elif ch == '"':
                self.pos += 1
                cur.append(self._double())
            elif ch == self.escape:
                if self.pos + 1 < len(self.text):
                    cur.append(self.text[self.pos + 1])
                self.pos += 2
            elif ch == "$":
                cur.append(self._variable())
            else:
                cur.append(ch)
                self.pos += 1
        if started:
            words.append("".join(cur))
        return words

    def _double(self) -> str:
        out: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == self.escape and self.pos + 1 < len(self.text) \
                    and self.text[self.pos + 1] in ('"', "$", self.escape):
                out.append(self.text[self.pos + 1])
                self.pos += 2
            elif ch == "$":
                out.append(self._variable())
            else:
                out.append(ch)
                self.pos += 1
        self.fail('unexpected end of statement while looking for matching "')
        return ""

    def _variable(self) -> str:
        self.pos += 1   # the $
        text = self.text
        if self.pos < len(text) and text[self.pos] == "{":
            end = self._closing(self.pos + 1)
            inner = text[self.pos + 1:end]
            self.pos = end + 1
            return self._braced(inner)
        m = re.match(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]", text[self.pos:])
        if not m:
            return "$"
        self.pos += m.end()
        return self.env.get(m.group(0), "")

    def _closing(self, start: int) -> int:
        depth = 1
        for i in range(start, len(self.text)):
            if self.text[i] == "{":
                depth += 1
            elif self.text[i] == "}":
                depth -= 1
                if depth == 0:
                    return i
        self.fail("missing '}' in variable substitution")
        return -1

    def _braced(self, inner: str) -> str:
        m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(?::?[-+?])?", inner)
        if not m or not m.group(1):
            self.fail(f"bad substitution: ${{{inner}}}")
        name = m.group(1)
        op = inner[len(name):len(name) + 2]
        word_start = len(name) + (2 if op.startswith(":") else 1)
        if len(inner) == len(name):
            return self.env.get(name, "")
        colon = inner[len(name)] == ":"
        kind = inner[len(name) + (1 if colon else 0)] if len(inner) > len(name) + colon else ""
        if kind not in ("-", "+", "?"):
            self.fail(f"unsupported modifier ({inner[len(name):]}) in substitution")
        word = _Lexer(inner[word_start:], self.env, self.escape, self.line,
                      self.filename).words(split=False)
        word_text = word[0] if word else ""
        value = self.env.get(name)
        is_set = value is not None and (value != "" or not colon)
        if kind == "-":
            return value if is_set else word_text
        if kind == "+":
            return word_text if is_set else ""
        if not is_set:
            self.fail(f"{name}: {word_text or 'is not allowed to be unset'}")
        return value or ""


def expand_words(text: str, env: dict[str, str], *, escape: str = "\\", line: int = 0,
                 filename: str = "Dockerfile") -> list[str]:
    """Split into words (quotes removed) with variables substituted."""
    return _Lexer(text, env, escape, line, filename).words(split=True)


def expand_word(text: str, env: dict[str, str], *, escape: str = "\\", line: int = 0,
                filename: str = "Dockerfile") -> str:
    """One string with variables substituted and quotes removed (WORKDIR, USER, ...)."""
    return "".join(_Lexer(text, env, escape, line, filename).words(split=False))


def key_values(instr: Instruction, env: dict[str, str], *, escape: str = "\\",
               filename: str = "Dockerfile") -> list[tuple[str, str]]:
    """ENV / LABEL / ARG pairs: `k=v k2="v 2"` or the legacy `ENV k some value`."""
    words = expand_words(instr.text, env, escape=escape, line=instr.line, filename=filename)
    raw = instr.text.split(None, 1)
    if instr.cmd != "ARG" and words and "=" not in words[0]:
        # legacy form: first word is the key, the rest (verbatim, expanded) the value
        if len(raw) < 2:
            raise DockerfileError(f"{instr.cmd} names can not be blank" if not raw else
                                  f"{instr.cmd} must have two arguments",
                                  filename=filename, line=instr.line)
        return [(raw[0], expand_word(raw[1], env, escape=escape, line=instr.line,
                                     filename=filename))]
    pairs = []
    for word in words:
        key, eq, value = word.partition("=")
        if not key:
            raise DockerfileError(f"{instr.cmd} names can not be blank", filename=filename,
                                  line=instr.line)
        if not eq and instr.cmd != "ARG":
            raise DockerfileError(f"Syntax error - can't find = in \"{word}\". Must be of the "
                                  "form: name=value", filename=filename, line=instr.line)
        pairs.append((key, value if eq else None))   # type: ignore[arg-type]
    return pairs


def parse_mount(spec: str, line: int, filename: str = "Dockerfile") -> dict[str, str]:
    """`type=secret,id=x,target=/p` -> dict; `type` defaults to bind like Docker."""
    out: dict[str, str] = {}
    for part in spec.split(","):
        key, eq, value = part.partition("=")
        key = key.strip().lower()
        if not eq:
            out[key] = "true"
        else:
            out[{"dst": "target", "destination": "target", "src": "source"}.get(key, key)] = value
    out.setdefault("type", "bind")
    if out["type"] not in ("secret", "cache", "bind", "tmpfs", "ssh"):
        raise DockerfileError(f"unsupported mount type \"{out['type']}\"", filename=filename,
                              line=line)
    return out
