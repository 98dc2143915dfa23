-- The API lists the most recent visits first.
CREATE INDEX visits_at ON visits (at DESC);
