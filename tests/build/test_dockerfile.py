"""The Dockerfile parser and Docker's word/variable rules (pure)."""
from __future__ import annotations

import pytest

from engine.build import dockerfile as df
from engine.build.dockerfile import DockerfileError, expand_word, expand_words, parse


def test_every_instruction_parses_with_its_line():
    text = """# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM --platform=linux/amd64 ${BASE} AS base
RUN echo hi
CMD ["sh"]
LABEL a=b
MAINTAINER me
EXPOSE 80/tcp
ENV A=1
ADD x.tar /opt/
COPY --chown=1:1 a b /dst/
ENTRYPOINT ["/bin/sh", "-c"]
VOLUME /data
USER app
WORKDIR /app
ARG X
ONBUILD RUN echo later
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --retries=3 CMD true
SHELL ["/bin/ash", "-c"]
"""
    file = parse(text)
    assert [i.cmd for i in file.meta_args] == ["ARG"]
    stage = file.stages[0]
    assert (stage.name, stage.base, stage.platform, stage.line) == \
        ("base", "${BASE}", "linux/amd64", 3)
    cmds = [i.cmd for i in stage.instructions]
    assert cmds == ["RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY",
                    "ENTRYPOINT", "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL",
                    "HEALTHCHECK", "SHELL"]
    assert [i.line for i in stage.instructions][:3] == [4, 5, 6]
    by = {i.cmd: i for i in stage.instructions}
    assert by["CMD"].exec_form == ("sh",)
    assert by["RUN"].exec_form is None and by["RUN"].text == "echo hi"
    assert by["COPY"].flag("chown") == "1:1" and by["COPY"].text == "a b /dst/"
    assert by["HEALTHCHECK"].flag("interval") == "5s"
    assert by["SHELL"].exec_form == ("/bin/ash", "-c")


def test_instructions_are_case_insensitive():
    file = parse("from busybox\nrun echo hi\n")
    assert file.stages[0].instructions[0].cmd == "RUN"


def test_continuations_join_lines_and_skip_comments():
    file = parse("FROM busybox\nRUN echo a \\\n    # a comment\n\n  && echo b\nRUN x\n")
    run, nxt = file.stages[0].instructions
    assert run.text == "echo a   && echo b"
    assert run.line == 2 and nxt.line == 6


def test_continuation_concatenates_without_a_space():
    file = parse("FROM busybox\nRUN echo ab\\\ncd\n")
    assert file.stages[0].instructions[0].text == "echo abcd"


def test_escape_directive_backtick():
    file = parse("# escape=`\nFROM busybox\nRUN dir c:\\ `\n  && echo done\n")
    assert file.escape == "`"
    assert file.stages[0].instructions[0].text == "dir c:\\   && echo done"


def test_directive_after_a_comment_is_just_a_comment():
    file = parse("# hello\n# escape=`\nFROM busybox\nRUN echo \\\n  hi\n")
    assert file.escape == "\\"
    assert file.stages[0].instructions[0].text == "echo   hi"


def test_bad_escape_directive():
    with pytest.raises(DockerfileError, match="Dockerfile:1: invalid escape token"):
        parse("# escape=x\nFROM busybox\n")


def test_unknown_instruction_names_the_line():
    with pytest.raises(DockerfileError) as err:
        parse("FROM busybox\nRUN true\n\n\n\n\nFOO bar\n")
    assert str(err.value) == "Dockerfile:7: unknown instruction: FOO"


def test_missing_from():
    with pytest.raises(DockerfileError, match="Dockerfile:1: no build stage"):
        parse("RUN true\n")
    with pytest.raises(DockerfileError, match="missing FROM"):
        parse("ARG X=1\n")
    with pytest.raises(DockerfileError, match="no instructions"):
        parse("# only a comment\n")


def test_bad_and_duplicate_flags():
    with pytest.raises(DockerfileError, match="Dockerfile:2: unknown flag: --frm"):
        parse("FROM busybox\nCOPY --frm=x a b\n")
    with pytest.raises(DockerfileError, match="Dockerfile:2: duplicate flag specified: --from"):
        parse("FROM busybox\nCOPY --from=a --from=b a b\n")
    with pytest.raises(DockerfileError, match="Dockerfile:2: missing a value on flag: --chown"):
        parse("FROM busybox\nCOPY --chown a b\n")


def test_argument_checks():
    cases = {"FROM busybox\nCOPY onlyone\n": "COPY requires at least two arguments",
             "FROM busybox\nSHELL /bin/sh -c\n": "SHELL requires the arguments to be in JSON",
             "FROM busybox\nHEALTHCHECK FOO x\n": 'Unknown type "FOO" in HEALTHCHECK',
             "FROM busybox\nHEALTHCHECK NONE x\n": "HEALTHCHECK NONE takes no arguments",
             "FROM busybox\nONBUILD FROM x\n": "FROM isn't allowed as an ONBUILD trigger",
             "FROM a b\n": "FROM requires either one or three arguments",
             "FROM a AS 1x\n": "invalid name for build stage",
             "FROM a AS x\nFROM b AS x\n": 'duplicate stage name "x"',
             "FROM busybox\nENV\n": "ENV requires at least one argument"}
    for text, message in cases.items():
        with pytest.raises(DockerfileError, match=message):
            parse(text)


def test_healthcheck_none_and_multi_stage_names():
    file = parse("FROM busybox AS Build\nHEALTHCHECK NONE\nFROM scratch\nCOPY --from=build a b\n")
    assert file.stages[0].name == "build"
    assert file.stage_index("BUILD") == 0 and file.stage_index("1") == 1
    assert file.stage_index("nope") is None


def test_non_json_bracket_is_shell_form():
    file = parse("FROM busybox\nCMD [not json\n")
    assert file.stages[0].instructions[0].exec_form is None


def test_variable_forms():
    env = {"SET": "v", "EMPTY": ""}
    assert expand_word("${SET:-d}", env) == "v"
    assert expand_word("${EMPTY:-d}", env) == "d"
    assert expand_word("${EMPTY-d}", env) == ""
    assert expand_word("${UNSET:-d}", env) == "d"
    assert expand_word("${SET:+alt}", env) == "alt"
    assert expand_word("${EMPTY:+alt}", env) == ""
    assert expand_word("${EMPTY+alt}", env) == "alt"
    assert expand_word("${UNSET:+alt}", env) == ""
    assert expand_word("$SET/$UNSET/x", env) == "v//x"
    assert expand_word("${UNSET:-${SET}}", env) == "v"
    with pytest.raises(DockerfileError, match="UNSET: need it"):
        expand_word("${UNSET:?need it}", env, line=3)


def test_words_quotes_and_escapes():
    env = {"A": "x y"}
    assert expand_words('one "two $A" \'three $A\' four\\ five \\$A', env) == \
        ["one", "two x y", "three $A", "four five", "$A"]
    assert expand_words("$A", env) == ["x y"]   # no word splitting of values
    with pytest.raises(DockerfileError, match="Dockerfile:4: unexpected end of statement"):
        expand_words('"open', env, line=4)
    with pytest.raises(DockerfileError, match="missing '}'"):
        expand_word("${A", env)


def test_env_label_pairs_and_legacy_form():
    file = parse('FROM b\nENV A=1 B="two words" C=${A}x\nENV OLD some value here\n'
                 'LABEL "k 1"=v k2=\'$A\'\nARG N\nARG M=3\n')
    env_i, legacy, label, arg_n, arg_m = file.stages[0].instructions
    assert df.key_values(env_i, {"A": "0"}) == [("A", "1"), ("B", "two words"), ("C", "0x")]
    assert df.key_values(legacy, {}) == [("OLD", "some value here")]
    assert df.key_values(label, {"A": "z"}) == [("k 1", "v"), ("k2", "$A")]
    assert df.key_values(arg_n, {}) == [("N", None)]
    assert df.key_values(arg_m, {}) == [("M", "3")]
    bad = parse("FROM b\nENV A=1 B\n").stages[0].instructions[0]
    with pytest.raises(DockerfileError, match="Dockerfile:2: Syntax error - can't find ="):
        df.key_values(bad, {})


def test_mount_flags():
    file = parse("FROM b\nRUN --mount=type=secret,id=tok,target=/t "
                 "--mount=type=cache,dst=/c cat /t\n")
    run = file.stages[0].instructions[0]
    mounts = [df.parse_mount(m, run.line) for m in run.flag_all("mount")]
    assert mounts == [{"type": "secret", "id": "tok", "target": "/t"},
                      {"type": "cache", "target": "/c"}]
    with pytest.raises(DockerfileError, match="Dockerfile:2: unsupported mount type"):
        df.parse_mount("type=nfs", 2)


def test_heredocs_are_refused_clearly_but_shifts_are_not():
    with pytest.raises(DockerfileError, match="Dockerfile:2: heredocs"):
        parse("FROM b\nRUN cat <<EOF > /x\n")
    parse("FROM b\nRUN echo $((1<<4)) && cat <<< hi\n")


def test_tabs_separate_instructions_and_flags():
    run = parse("FROM b\nRUN\t--network=none\techo hi\n").stages[0].instructions[0]
    assert run.flag("network") == "none" and run.text == "echo hi"
