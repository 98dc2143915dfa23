-- The visit counter's table.
CREATE TABLE visits (
    id    bigserial PRIMARY KEY,
    at    timestamptz NOT NULL DEFAULT now(),
    path  text NOT NULL,
    agent text NOT NULL DEFAULT ''
);
