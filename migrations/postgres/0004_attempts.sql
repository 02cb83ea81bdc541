-- One owner for a job's life (issue 12): attempts run in their own process, parameters are kept
-- as posted, results keep the MIME types their kind gave them.

-- Attempts whose process crashed (signal, abort) without an outcome; at executors.max_crashes
-- the job ends in ERROR instead of being retried.
ALTER TABLE jobs ADD COLUMN crashes BIGINT NOT NULL DEFAULT 0;
-- 1 while the executor holding the job enforces the execution duration itself (a batch
-- system's time limit); the reaper then leaves the job alone.
ALTER TABLE jobs ADD COLUMN self_timed BIGINT NOT NULL DEFAULT 0;
-- The kind's parameters exactly as the client posted them (a JSON object of strings), which UWS
-- echoes; `parameters` keeps the typed values, defaults included, that the job runs with.
ALTER TABLE jobs ADD COLUMN posted_parameters TEXT;
-- The accepted attempt's result files with the MIME types the kind gave (a JSON array of
-- {name, mime_type}).
ALTER TABLE jobs ADD COLUMN results TEXT;
