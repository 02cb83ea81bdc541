-- The job pages count a user's jobs per phase on every list, and an experiment's page lists a
-- user's jobs in one experiment: with indexes that hold the owner and the phase, or the owner
-- and the experiment, both stop reading every job of the user (with 100,000 jobs, benches/web.rs:
-- the job list's first page 98 ms -> 7 ms).
CREATE INDEX jobs_owner_phase ON jobs (owner_id, phase);
CREATE INDEX jobs_owner_experiment ON jobs (owner_id, experiment_id, creation_time, id);
