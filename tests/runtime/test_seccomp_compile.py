"""The seccomp compiler without a kernel: Docker's profile and custom ones, compiled to BPF and run
through a BPF interpreter for sample (arch, nr, args); syscall tables checked against
libseccomp's own resolution."""
from __future__ import annotations

import base64
import ctypes
import errno
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import BadParameter
from engine.runtime.capabilities import DOCKER_DEFAULT_MASK, mask_of, privileged_mask
from engine.runtime.seccomp import bpf, cache, profile
from tests.runtime.bpf_interp import run, seccomp_data

X86_64, I386, AARCH64 = bpf.AUDIT_ARCH["x86_64"], bpf.AUDIT_ARCH["x86"], bpf.AUDIT_ARCH["aarch64"]
ALLOW = profile.RET_ALLOW
EPERM_RET = profile.RET_ERRNO | errno.EPERM
ENOSYS_RET = profile.RET_ERRNO | errno.ENOSYS
KILL = profile.RET_KILL_PROCESS
T = bpf.syscall_tables()
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x20000, 0x10000000, 0x40000000
THREAD_FLAGS = 0x3D0F00   # what glibc's pthread_create passes to clone
FORK_FLAGS = 0x1200011    # CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD


def program(caps: int = DOCKER_DEFAULT_MASK, arch: str = "x86_64", kernel=(6, 18),
            text: str | None = None) -> bytes:
    parsed = profile.parse_profile(text or profile.default_profile_text())
    return bpf.compile_selection(profile.select_rules(parsed, caps, arch, kernel))


def verdict(prog: bytes, name: str, *args: int, arch: str = "x86_64") -> int:
    audit = {"x86_64": X86_64, "x32": X86_64, "x86": I386, "aarch64": AARCH64}[arch]
    nr = T[arch][name] | (bpf.X32_SYSCALL_BIT if arch == "x32" else 0)
    return run(prog, seccomp_data(nr, audit, args))


@pytest.fixture(scope="module")
def default_x86() -> bytes:
    return program()


def test_default_profile_allows_ordinary_calls_and_denies_kernel_surfaces(default_x86):
    for name in ("read", "write", "openat", "mkdir", "mkdirat", "execve", "capset", "prctl",
                 "setresuid", "sendmsg", "close_range", "mseal", "fchmodat2", "uretprobe"):
        assert verdict(default_x86, name) == ALLOW, name
    for name in ("mount", "umount2", "unshare", "setns", "keyctl", "add_key", "bpf",
                 "kexec_load", "init_module", "reboot", "open_by_handle_at", "pivot_root",
                 "swapon", "kcmp", "sethostname", "perf_event_open"):
        assert verdict(default_x86, name) == EPERM_RET, name


def test_personality_only_with_docker_values(default_x86):
    for persona in (0, 8, 0x20000, 0x20008, 0xFFFFFFFF):
        assert verdict(default_x86, "personality", persona) == ALLOW, hex(persona)
    for persona in (1, 0x0040000, 0x1_0000_0000, 0xFFFFFFFF_FFFFFFFF):
        assert verdict(default_x86, "personality", persona) == EPERM_RET, hex(persona)


def test_clone_without_namespace_flags_and_clone3_enosys(default_x86):
    assert verdict(default_x86, "clone", THREAD_FLAGS) == ALLOW
    assert verdict(default_x86, "clone", FORK_FLAGS) == ALLOW
    for flag in (CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET):
        assert verdict(default_x86, "clone", FORK_FLAGS | flag) == EPERM_RET
    # glibc falls back to clone when clone3 says ENOSYS (Docker's errnoRet 38)
    assert verdict(default_x86, "clone3") == ENOSYS_RET


def test_socket_families_as_docker(default_x86):
    assert verdict(default_x86, "socket", 2) == ALLOW       # AF_INET
    assert verdict(default_x86, "socket", 16) == ALLOW      # AF_NETLINK
    assert verdict(default_x86, "socket", 38) == EPERM_RET  # AF_ALG
    assert verdict(default_x86, "socket", 39) == ALLOW
    assert verdict(default_x86, "socket", 40) == EPERM_RET  # AF_VSOCK
    assert verdict(default_x86, "socket", 44) == ALLOW


def test_cap_sys_admin_opens_mount_unshare_and_namespaced_clone():
    prog = program(DOCKER_DEFAULT_MASK | mask_of(["SYS_ADMIN"]))
    for name in ("mount", "umount2", "unshare", "setns", "sethostname", "clone3"):
        assert verdict(prog, name) == ALLOW, name
    assert verdict(prog, "clone", FORK_FLAGS | CLONE_NEWUSER) == ALLOW
    assert verdict(prog, "keyctl") == EPERM_RET  # no capability opens keyctl in Docker's profile


def test_capability_conditional_groups():
    assert verdict(program(DOCKER_DEFAULT_MASK | mask_of(["SYS_PTRACE"])), "kcmp") == ALLOW
    assert verdict(program(DOCKER_DEFAULT_MASK | mask_of(["SYS_TIME"])), "settimeofday") == ALLOW
    assert verdict(program(DOCKER_DEFAULT_MASK | mask_of(["SYS_MODULE"])), "init_module") == ALLOW
    assert verdict(program(DOCKER_DEFAULT_MASK | mask_of(["SYS_BOOT"])), "reboot") == ALLOW
    assert verdict(program(DOCKER_DEFAULT_MASK | mask_of(["DAC_READ_SEARCH"])),
                   "open_by_handle_at") == ALLOW
    # chroot needs CAP_SYS_CHROOT, which is in the default set: dropping it closes chroot
    assert verdict(program(), "chroot") == ALLOW
    assert verdict(program(DOCKER_DEFAULT_MASK & ~mask_of(["SYS_CHROOT"])), "chroot") == EPERM_RET


def test_min_kernel_include():
    assert verdict(program(kernel=(6, 18)), "ptrace") == ALLOW
    assert verdict(program(kernel=(4, 4)), "ptrace") == EPERM_RET
    assert verdict(program(DOCKER_DEFAULT_MASK | mask_of(["SYS_PTRACE"]), kernel=(4, 4)),
                   "ptrace") == ALLOW


def test_i386_and_x32_compat_tables(default_x86):
    assert verdict(default_x86, "mkdir", arch="x86") == ALLOW
    assert verdict(default_x86, "socketcall", arch="x86") == ALLOW
    assert verdict(default_x86, "mount", arch="x86") == EPERM_RET
    assert verdict(default_x86, "personality", 8, arch="x86") == ALLOW
    assert verdict(default_x86, "personality", 1, arch="x86") == EPERM_RET
    assert verdict(default_x86, "mkdir", arch="x32") == ALLOW
    assert verdict(default_x86, "execve", arch="x32") == ALLOW   # x32's own number (520)
    assert verdict(default_x86, "unshare", arch="x32") == EPERM_RET
    # an x86_64-only number with the x32 bit is no x32 syscall
    assert run(default_x86, seccomp_data(bpf.X32_SYSCALL_BIT | T["x86_64"]["execve"],
                                         X86_64)) == EPERM_RET


def test_other_architecture_is_killed_and_newer_syscalls_get_enosys(default_x86):
    assert run(default_x86, seccomp_data(T["aarch64"]["mkdirat"], AARCH64)) == KILL
    assert run(default_x86, seccomp_data(1000, X86_64)) == ENOSYS_RET
    assert run(default_x86, seccomp_data(400, X86_64)) == EPERM_RET  # a hole below the last


def test_aarch64_filter():
    prog = program(arch="aarch64")
    assert verdict(prog, "mkdirat", arch="aarch64") == ALLOW
    assert verdict(prog, "mount", arch="aarch64") == EPERM_RET
    assert verdict(prog, "clone", FORK_FLAGS | CLONE_NEWNS, arch="aarch64") == EPERM_RET
    assert verdict(prog, "clone", FORK_FLAGS, arch="aarch64") == ALLOW
    assert run(prog, seccomp_data(T["x86_64"]["mkdir"], X86_64)) == KILL


def test_programs_fit_the_kernel_limit():
    for arch in ("x86_64", "aarch64"):
        for caps in (0, DOCKER_DEFAULT_MASK, privileged_mask()):
            assert len(program(caps, arch)) // 8 <= bpf.MAX_INSNS


def _custom(rules: list[dict], default: str = "SCMP_ACT_ALLOW", **extra) -> str:
    return json.dumps({"defaultAction": default, "syscalls": rules, **extra})


def test_custom_profile_denying_mkdir():
    text = _custom([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}])
    prog = program(text=text)
    assert verdict(prog, "mkdir") == EPERM_RET
    assert verdict(prog, "mkdirat") == EPERM_RET
    # no archMap nor architectures: the filter knows only the native table; a 32-bit call is
    # from an architecture it does not cover (libseccomp's bad-arch rule)
    assert verdict(prog, "mkdir", arch="x86") == KILL
    assert verdict(prog, "read") == ALLOW
    assert run(prog, seccomp_data(1000, X86_64)) == ALLOW   # no ENOSYS stub when allowing


def test_custom_profile_errno_and_kill_actions():
    text = _custom([{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                    {"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"},
                    {"names": ["write", "exit_group"], "action": "SCMP_ACT_ALLOW"}],
                   default="SCMP_ACT_ERRNO", defaultErrnoRet=38)
    prog = program(text=text)
    assert verdict(prog, "getpid") == profile.RET_ERRNO | 13
    assert verdict(prog, "getppid") == KILL
    assert verdict(prog, "write") == ALLOW
    assert verdict(prog, "read") == profile.RET_ERRNO | 38


def test_same_argument_twice_means_either():
    text = _custom([{"names": ["kill"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"},
                              {"index": 1, "value": 15, "op": "SCMP_CMP_EQ"}]}],
                   default="SCMP_ACT_ERRNO")
    prog = program(text=text)
    assert verdict(prog, "kill", 1, 0) == ALLOW
    assert verdict(prog, "kill", 1, 15) == ALLOW
    assert verdict(prog, "kill", 1, 9) == EPERM_RET


def test_different_arguments_must_all_hold():
    text = _custom([{"names": ["kill"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                              {"index": 1, "value": 15, "op": "SCMP_CMP_EQ"}]}],
                   default="SCMP_ACT_ERRNO")
    prog = program(text=text)
    assert verdict(prog, "kill", 1, 15) == ALLOW
    assert verdict(prog, "kill", 2, 15) == EPERM_RET
    assert verdict(prog, "kill", 1, 9) == EPERM_RET


_PYTHON_OPS = {
    "SCMP_CMP_NE": lambda a, v, _: a != v, "SCMP_CMP_LT": lambda a, v, _: a < v,
    "SCMP_CMP_LE": lambda a, v, _: a <= v, "SCMP_CMP_EQ": lambda a, v, _: a == v,
    "SCMP_CMP_GE": lambda a, v, _: a >= v, "SCMP_CMP_GT": lambda a, v, _: a > v,
    "SCMP_CMP_MASKED_EQ": lambda a, v, v2: a & v == v2,
}
_u64 = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from(
    [0, 1, 2**32 - 1, 2**32, 2**32 + 1, 2**63, 2**64 - 1, 0xFFFFFFFF00000000]))


@settings(max_examples=300, deadline=None)
@given(op=st.sampled_from(sorted(_PYTHON_OPS)), value=_u64, value_two=_u64, arg=_u64,
       index=st.integers(0, 5))
def test_every_operator_compares_all_64_bits(op, value, value_two, arg, index):
    text = _custom([{"names": ["getpid"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": index, "value": value, "valueTwo": value_two,
                               "op": op}]}], default="SCMP_ACT_ERRNO")
    prog = bpf.compile_selection(profile.select_rules(profile.parse_profile(text), 0,
                                                      "x86_64", (6, 18)))
    args = [0] * 6
    args[index] = arg
    expected = ALLOW if _PYTHON_OPS[op](arg, value, value_two) else EPERM_RET
    assert run(prog, seccomp_data(T["x86_64"]["getpid"], X86_64, tuple(args))) == expected


@pytest.mark.parametrize("text, words", [
    ("{not json", "not JSON"),
    ('["a"]', "JSON object"),
    (_custom([], default="SCMP_ACT_MAYBE"), "unknown action"),
    (_custom([{"names": ["read"], "action": "SCMP_ACT_ALLOW",
               "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]), "operator"),
    (_custom([{"names": ["read"], "action": "SCMP_ACT_ALLOW",
               "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]), "index"),
    (_custom([], architectures=["SCMP_ARCH_X86_64"],
             archMap=[{"architecture": "SCMP_ARCH_X86_64"}]), "archMap"),
    (_custom([], architectures=["SCMP_ARCH_VAX"]), "architecture"),
    (_custom([{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]), "NOTIFY"),
    (_custom([{"names": "read", "action": "SCMP_ACT_ALLOW"}]), "names"),
    (_custom([{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_X"]}}]),
     "capability"),
])
def test_bad_profiles_are_one_line_bad_parameter(text, words):
    with pytest.raises(BadParameter) as info:
        cache.check_profile(text)
    message = str(info.value)
    assert words in message and "\n" not in message and message.startswith("invalid seccomp")


def test_cache_compiles_once_per_profile_and_caps():
    cache._compiled.cache_clear()
    first = cache.filter_for("", DOCKER_DEFAULT_MASK)
    assert cache.filter_for("builtin", DOCKER_DEFAULT_MASK) is first
    assert cache._compiled.cache_info().misses == 1
    assert cache.filter_for("", privileged_mask()) != first
    assert cache.filter_for("unconfined", DOCKER_DEFAULT_MASK) == ""
    assert cache.filter_for("", privileged_mask(), privileged=True) == ""
    custom = _custom([{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}])
    assert cache.filter_for(custom, privileged_mask(), privileged=True) != ""
    assert base64.b64decode(first) == program()


def test_default_profile_names_are_in_the_tables():
    """Every name in Docker's profile has a number in one of our tables, except the calls of
    machines we have no table for (32-bit ARM, s390, ppc, RISC-V)."""
    other_machines = {"arm_fadvise64_64", "arm_sync_file_range", "breakpoint", "cacheflush",
                      "set_tls", "sync_file_range2", "swapcontext", "s390_pci_mmio_read",
                      "s390_pci_mmio_write", "s390_runtime_instr", "riscv_flush_icache",
                      "riscv_hwprobe", "recv", "send"}
    known = set().union(*(set(t) for t in T.values()))
    names = {n for s in json.loads(profile.default_profile_text())["syscalls"] for n in s["names"]}
    assert names - known == other_machines


def _libseccomp():
    lib = ctypes.CDLL("libseccomp.so.2")
    lib.seccomp_syscall_resolve_name_arch.restype = ctypes.c_int
    lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    lib.seccomp_syscall_resolve_num_arch.restype = ctypes.c_void_p  # a malloc'ed name
    lib.seccomp_syscall_resolve_num_arch.argtypes = [ctypes.c_uint32, ctypes.c_int]
    return lib


@pytest.mark.parametrize("arch", ["x86_64", "x86", "x32", "aarch64"])
def test_tables_agree_with_libseccomp(arch):
    """Debian's libseccomp2 (on every bookworm) resolves names on its own tables: every name both
    know must have the same number."""
    lib = _libseccomp()
    token = {"x86_64": X86_64, "x86": I386, "x32": 0x4000003E, "aarch64": AARCH64}[arch]
    compared = 0
    for name, nr in T[arch].items():
        theirs = lib.seccomp_syscall_resolve_name_arch(token, name.encode())
        if theirs < 0:
            continue  # unknown to libseccomp 2.5.4 (newer than it) or a pseudo-number
        theirs &= ~bpf.X32_SYSCALL_BIT
        assert theirs == nr, (arch, name, theirs, nr)
        compared += 1
    assert compared > 280
    # and no number libseccomp has a name for is missing from ours
    bit = bpf.X32_SYSCALL_BIT if arch == "x32" else 0
    free = ctypes.CDLL(None).free
    free.argtypes = [ctypes.c_void_p]
    for nr in range(600):
        name = lib.seccomp_syscall_resolve_num_arch(token, nr | bit)
        if name:
            text = ctypes.string_at(name).decode()
            free(name)
            assert text in T[arch], (arch, nr)


def test_too_large_profiles_are_refused_with_a_message():
    many_syscalls = _custom([
        {"names": [name], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": i, "value": 7, "op": "SCMP_CMP_GT"} for i in range(3)]}
        for name in list(T["x86_64"])[:300]], default="SCMP_ACT_ERRNO")
    with pytest.raises(BadParameter, match="too large"):
        cache.check_profile(many_syscalls)
    one_syscall = _custom([{"names": ["getpid"], "action": "SCMP_ACT_ALLOW",
                            "args": [{"index": 0, "value": n, "op": "SCMP_CMP_EQ"}]}
                           for n in range(60)], default="SCMP_ACT_ERRNO")
    with pytest.raises(BadParameter, match="too many argument rules"):
        cache.check_profile(one_syscall)


_ACTION_CHOICES = [("SCMP_ACT_ALLOW", None), ("SCMP_ACT_ERRNO", None), ("SCMP_ACT_ERRNO", 13),
                   ("SCMP_ACT_KILL_PROCESS", None), ("SCMP_ACT_TRAP", None)]
_RETS = {("SCMP_ACT_ALLOW", None): ALLOW, ("SCMP_ACT_ERRNO", None): EPERM_RET,
         ("SCMP_ACT_ERRNO", 13): profile.RET_ERRNO | 13, ("SCMP_ACT_KILL_PROCESS", None): KILL,
         ("SCMP_ACT_TRAP", None): profile.RET_TRAP}
_NAMES = sorted(T["x86_64"])


@st.composite
def _random_profiles(draw):
    rules = []
    for _ in range(draw(st.integers(0, 25))):
        names = draw(st.lists(st.sampled_from(_NAMES), min_size=1, max_size=4))
        action = draw(st.sampled_from(_ACTION_CHOICES))
        indexes = draw(st.lists(st.integers(0, 5), max_size=2, unique=True))
        args = [{"index": i, "op": draw(st.sampled_from(sorted(_PYTHON_OPS))),
                 "value": draw(_u64), "valueTwo": draw(_u64)} for i in indexes]
        rule = {"names": names, "action": action[0], "args": args}
        if action[1] is not None:
            rule["errnoRet"] = action[1]
        rules.append((rule, _RETS[action]))
    default = draw(st.sampled_from([("SCMP_ACT_ALLOW", None), ("SCMP_ACT_ERRNO", None),
                                    ("SCMP_ACT_KILL_PROCESS", None)]))
    return rules, default


def _reference(rules, default_ret: int, nr: int, args: tuple[int, ...]) -> int:
    """The documented meaning (bpf.py's docstring), written plainly."""
    mine = [(r, ret) for r, ret in rules if ret != default_ret
            and any(T["x86_64"][n] == nr for n in r["names"])]
    listed = {T["x86_64"][n] for r, ret in rules if ret != default_ret for n in r["names"]}
    if listed and default_ret != ALLOW and nr > max(listed):
        return ENOSYS_RET
    for r, ret in mine:
        if not r["args"]:
            return ret
    for r, ret in mine:
        if all(_PYTHON_OPS[a["op"]](args[a["index"]], a["value"], a["valueTwo"])
               for a in r["args"]):
            return ret
    return default_ret


@settings(max_examples=150, deadline=None)
@given(spec=_random_profiles(), probes=st.lists(
    st.tuples(st.sampled_from(_NAMES + ["__hole__"]), st.lists(_u64, min_size=6, max_size=6)),
    min_size=1, max_size=8))
def test_random_profiles_compile_to_their_meaning(spec, probes):
    rules, default = spec
    text = _custom([r for r, _ in rules], default=default[0])
    prog = program(text=text)
    for name, args in probes:
        nr = 400 if name == "__hole__" else T["x86_64"][name]
        want = _reference(rules, _RETS[default], nr, tuple(args))
        assert run(prog, seccomp_data(nr, X86_64, tuple(args))) == want, (name, args)
