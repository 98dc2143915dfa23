"""Our BPF programs in the real kernel: installed in a forked process (the verdicts must match
the interpreter's) and in containers made by the runtime (install order, credentials, errors)."""
from __future__ import annotations

import base64
import ctypes
import errno
import json
import os
import struct

import pytest

from engine.runtime import syscalls as sc
from engine.runtime.capabilities import DOCKER_DEFAULT_MASK, mask_of
from engine.runtime.seccomp import bpf, cache
from engine.runtime.seccomp.install import PR_SET_SECCOMP, SECCOMP_MODE_FILTER, _SockFprog
from engine.runtime.spec import User
from tests.runtime.bpf_interp import run, seccomp_data

pytestmark = pytest.mark.integration

T = bpf.syscall_tables()["x86_64"]
PR_SET_NO_NEW_PRIVS = 38
# (name, args): calls that are harmless whether allowed or not (bad pointers, queries)
# (unshare last: when let through it moves the prober into a user namespace of its own)
PROBES = [
    ("getpid", ()), ("personality", (0xFFFFFFFF,)), ("personality", (1,)),
    ("mount", (0, 0, 0, 0, 0)), ("keyctl", (0, 0)),
    ("clone3", (0, 0)), ("socket", (40, 1, 0)), ("socket", (38, 5, 0)),
    ("setns", (-1, 0)), ("kcmp", (0, 0, 0, 0, 0)), ("bpf", (0, 0, 0)), ("syslog", (3, 0, 0)),
    ("unshare", (0x10000000,)),
]


def _verdicts_in_kernel(program: bytes) -> list[int]:
    """errno (0 = the call was let through) of each probe, under the filter in a child."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.close(r)
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            buf = ctypes.create_string_buffer(program, len(program))
            prog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
            sc.prctl(PR_SET_NO_NEW_PRIVS, 1)
            sc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog))
            out = []
            for name, args in PROBES:
                ctypes.set_errno(0)
                res = libc.syscall(ctypes.c_long(T[name]), *(ctypes.c_long(a) for a in args))
                out.append(ctypes.get_errno() if res == -1 else 0)
            os.write(w, struct.pack(f"{len(out)}i", *out))
            os._exit(0)
        except BaseException:
            os._exit(4)
    os.close(w)
    data = os.read(r, 4096)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return list(struct.unpack(f"{len(PROBES)}i", data))


def _expected(program: bytes) -> list[int | None]:
    """EPERM/ENOSYS when the interpreter says the filter answers; None when it lets it through
    (then the kernel's own answer is whatever the call gives)."""
    out: list[int | None] = []
    for name, args in PROBES:
        full = tuple(a & 0xFFFFFFFFFFFFFFFF for a in args)
        verdict = run(program, seccomp_data(T[name], bpf.AUDIT_ARCH["x86_64"], full))
        out.append(None if verdict == 0x7FFF0000 else verdict & 0xFFFF)
    return out


@pytest.mark.parametrize("caps", [DOCKER_DEFAULT_MASK,
                                  DOCKER_DEFAULT_MASK | mask_of(["SYS_ADMIN"])])
def test_kernel_and_interpreter_agree_on_docker_profile(caps):
    program = base64.b64decode(cache.filter_for("", caps))
    expected = _expected(program)
    got = _verdicts_in_kernel(program)
    for (name, args), want, errno_got in zip(PROBES, expected, got):
        if want is None:  # let through to the kernel, which (we are root) answers otherwise
            assert errno_got not in (errno.EPERM, errno.ENOSYS), (name, args, errno_got)
        else:
            assert errno_got == want, (name, args, errno_got, want)
    denied = {p[0] for p, w in zip(PROBES, expected) if w == errno.EPERM}
    if caps == DOCKER_DEFAULT_MASK:
        assert {"unshare", "mount", "keyctl", "setns", "kcmp", "bpf", "syslog"} <= denied
        assert expected[PROBES.index(("clone3", (0, 0)))] == errno.ENOSYS
    else:
        assert "unshare" not in denied and "mount" not in denied and "keyctl" in denied


def _status(out: str) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in out.splitlines() if ":\t" in line)


STATUS = "grep -E '^(Seccomp|NoNewPrivs|Cap...):' /proc/self/status"


@pytest.mark.parametrize("nnp", [False, True])
@pytest.mark.parametrize("user", [User(), User(1000, 1000)])
def test_container_gets_the_filter_with_its_own_credentials(box, nnp, user):
    """Without no_new_privileges the child holds CAP_SYS_ADMIN until the filter is in, then
    drops it: the container's sets are exactly Docker's, for root and for a user."""
    f = cache.filter_for("", DOCKER_DEFAULT_MASK)
    st, out = box.output("sh", "-c", f"{STATUS}; unshare -Ur true; echo rc=$?", user=user,
                         process_kw={"seccomp_filter": f, "no_new_privileges": nnp})
    fields = _status(out)
    assert st.code == 0 and fields["Seccomp"] == "2"
    assert fields["NoNewPrivs"] == ("1" if nnp else "0")
    eff = DOCKER_DEFAULT_MASK if user.uid == 0 else 0
    assert int(fields["CapEff"], 16) == eff and int(fields["CapPrm"], 16) == eff
    assert int(fields["CapBnd"], 16) == DOCKER_DEFAULT_MASK
    assert "Operation not permitted" in out and "rc=1" in out


def test_a_profile_that_blocks_capset_fails_the_start_with_a_message(box):
    """Without no_new_privileges capset runs under the filter (as in runc): a profile that
    denies it cannot start, and says so."""
    deny = json.dumps({"defaultAction": "SCMP_ACT_ALLOW",
                       "syscalls": [{"names": ["capset"], "action": "SCMP_ACT_ERRNO"}]})
    f = cache.filter_for(deny, DOCKER_DEFAULT_MASK)
    with pytest.raises(Exception, match="capset"):
        box.output("true", process_kw={"seccomp_filter": f})
    # with no_new_privileges the filter goes in after the last capset: the start works
    st, _ = box.output("true", process_kw={"seccomp_filter": f, "no_new_privileges": True})
    assert st.code == 0


def _int80(nr: int, arg: int) -> int:
    """A 32-bit (i386 ABI) syscall from this 64-bit process: `int $0x80` in a scrap of code;
    returns eax (a negative errno on failure)."""
    import mmap

    code = (b"\x53"                                  # push rbx (callee-saved)
            + b"\xb8" + struct.pack("<I", nr)        # mov eax, nr
            + b"\x89\xfb"                            # mov ebx, edi (the first argument)
            + b"\xcd\x80"                            # int 0x80
            + b"\x5b\xc3")                           # pop rbx; ret
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(code)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(page))
    return ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(addr)(arg)


def test_compat_syscalls_meet_the_i386_and_x32_sections_in_the_kernel():
    """i386 calls (int 0x80) and x32 calls (bit 30) are filtered by their own tables."""
    program = base64.b64decode(cache.filter_for("", DOCKER_DEFAULT_MASK))
    i386, x32 = bpf.syscall_tables()["x86"], bpf.syscall_tables()["x32"]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.close(r)
            buf = ctypes.create_string_buffer(program, len(program))
            prog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
            sc.prctl(PR_SET_NO_NEW_PRIVS, 1)
            sc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog))
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long

            def x32call(nr: int) -> int:
                ctypes.set_errno(0)
                res = libc.syscall(ctypes.c_long(bpf.X32_SYSCALL_BIT | nr), ctypes.c_long(0),
                                   ctypes.c_long(0))
                return -ctypes.get_errno() if res == -1 else res
            out = [_int80(i386["getpid"], 0), _int80(i386["mkdir"], 0),
                   _int80(i386["unshare"], 0x10000000), _int80(i386["mount"], 0),
                   x32call(x32["getpid"]), x32call(x32["unshare"])]
            os.write(w, struct.pack("6i", *out))
            os._exit(0)
        except BaseException:
            os._exit(4)
    os.close(w)
    data = os.read(r, 64)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    getpid32, mkdir32, unshare32, mount32, getpid_x32, unshare_x32 = struct.unpack("6i", data)
    if getpid32 == -errno.ENOSYS and mkdir32 == -errno.ENOSYS:
        pytest.fail("this kernel runs no i386 code (ia32_emulation off): cannot check")
    assert getpid32 == pid                 # allowed: the kernel answers
    assert mkdir32 == -errno.EFAULT        # allowed: a NULL path is the kernel's EFAULT
    assert unshare32 == -errno.EPERM       # the filter
    assert mount32 == -errno.EPERM
    assert getpid_x32 in (pid, -errno.ENOSYS)  # allowed (ENOSYS: a kernel without x32)
    assert unshare_x32 == -errno.EPERM     # the filter answers before the kernel's x32 check
