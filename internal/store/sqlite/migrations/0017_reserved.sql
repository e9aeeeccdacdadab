-- 0017 is taken by another branch developed at the same time; this placeholder keeps the numbers
-- without gaps on the cases branch and is deleted when the two are merged (or 0018 renumbered).
SELECT 1;
