-- A run requested while a unit is running is not lost (issue 3, CI failure of 2026-11-22): the
-- runner's FinishWork used to overwrite next_run_at that ScheduleWork had set during the lease, so a
-- connection created while the lifecycle unit ran waited a whole minute in Searching. ScheduleWork on
-- a leased unit records the earliest requested time here; FinishWork runs the unit again then.
ALTER TABLE work ADD COLUMN rerun_at INTEGER NOT NULL DEFAULT 0;

-- Drives still to index, found without counting every drive: indexing asks after each finished
-- drive whether any remain (AnyUnindexedDrive), which was a full count (quadratic in drives).
CREATE INDEX drives_unindexed ON drives(connection_id) WHERE state IN ('pending', 'indexing');
