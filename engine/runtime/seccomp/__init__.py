"""Seccomp for containers: Docker's default profile (default.json, vendored data), the profile
format (profile.py), our BPF compiler (bpf.py), the daemon's compile cache (cache.py), the
`security_opt` values (options.py) and the child's install step (install.py)."""
