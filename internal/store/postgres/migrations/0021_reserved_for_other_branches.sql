-- Placeholder: 0021 is another branch's migration number. Delete at merge (0023 is this branch's).
SELECT 1;
