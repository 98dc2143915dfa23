"""The engine runtime: the only code that forks container processes and calls into the kernel.

Modules (one kernel facility each): `spec` (what to run, pure), `runtime` (daemon side, trio),
`zygote` (the process that clones), `child` (clone -> execve), `mounts` + `devices` (the mount
table), `capabilities`, `terminal`, `cgroups`, `rootfs` (overlay), `users` (-u resolution),
`protocol` (daemon <-> zygote messages), `pipes` (a process's output read to EOF) and
`syscalls` (the one ctypes seam).
"""
