"""Image builds from Dockerfiles (with a layer cache) and Debian base-image bootstrap.

    builder.Builder(store, runtime, cgroups, state_root).build(context, options, emit)
    bootstrap.bootstrap(store, "debian:bookworm", ...)
    client.build(client, directory, ...) / client.bootstrap(client, ...)   # CLI side
"""
