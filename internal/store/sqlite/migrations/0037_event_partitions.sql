-- 0037 partitions file_events by month on PostgreSQL (issue 19). SQLite keeps its single file and
-- its table as they are: nothing to do here (the number keeps the two drivers' versions in step).
SELECT 1;
