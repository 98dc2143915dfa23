"""Image builds from Dockerfiles (with a layer cache) and Debian base-image bootstrap.

    builder.Builder(store, runtime, cgroups, state_root).build(context, options, emit)
    bootstrap.bootstrap(store, "debian:bookworm", ...)

The client side (packing a context, POST /build, bootstrap requests) is engine/client/build.py.
"""
