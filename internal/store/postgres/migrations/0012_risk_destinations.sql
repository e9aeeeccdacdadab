-- 0012 the destinations each person has shared or sent files to, for the first_use risk indicator
-- (issue 16, internal/risk): a destination is an untrusted domain, or a whole address at a
-- personal-mail domain. Ingest writes it in the transaction that stores the events, so a
-- destination used twice in one page is new for the first event only. Keep in step with the
-- other driver's migrations.
CREATE TABLE risk_destinations (
  person TEXT NOT NULL,
  destination TEXT NOT NULL,
  first_seen BIGINT NOT NULL,
  PRIMARY KEY (person, destination)
);
