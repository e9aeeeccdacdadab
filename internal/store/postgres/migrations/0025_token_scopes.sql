-- API tokens limited to parts of the API (R7.6): space-separated scopes such as "file-events:read
-- watchlists:write"; empty means everything the token's user's role allows.
ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT '';
