// Package box is a stateful, in-memory emulator of the Box API, served over real HTTP (loopback
// only) for connector tests, the conformance suite, benchmarks and `telltale demo`. It is built
// from Box's documented contract: the official OpenAPI spec (testdata/openapi.json, commit
// c9a878a9), the vendor notes (section 1) and Box's developer guides; each shape's source is noted
// where it is produced.
//
// Emulated:
//   - POST /oauth2/token, client credentials grant (box_subject_type enterprise or user) with Box's
//     OAuth error bodies (invalid_request, invalid_client, unauthorized_client, invalid_grant);
//     tokens expire after Options.TokenTTL; /2.0 answers an unknown or expired token 401 with an
//     empty body and a WWW-Authenticate header.
//   - the as-user header (enterprise tokens only; 403 access_denied_insufficient_permissions when
//     Options.DenyAsUser, for a user made inaccessible, for external users and for user tokens;
//     400 for an unknown id).
//   - GET /2.0/users (marker and offset paging, limit ≤ 1000, offset ≤ 10000, user_type,
//     filter_term, fields), /2.0/users/me, /2.0/users/{id}.
//   - GET /2.0/groups (offset paging, filter_term), /2.0/groups/{id}/memberships.
//   - GET /2.0/folders/{id}, /2.0/folders/{id}/items (marker or offset paging, fields; folder "0"
//     is the acting user's root and also lists the items collaborated to them), /2.0/files/{id}
//     (fields incl. shared_link, sha1, size, path_collection, owned_by, parent),
//     /2.0/files/{id}/content (302 to /dl/<ticket> on the same handler; like Box, an API download
//     by a user is recorded as that user's DOWNLOAD), /2.0/{files,folders}/{id}/collaborations.
//     Items a user cannot see answer 404 not_found; items in the trash 404 trashed.
//   - GET /2.0/events with stream_type admin_logs (chronological, created_after/created_before,
//     one year of history) and admin_logs_streaming (at least once; Faults.DuplicateRate and
//     Faults.Reorder make duplicates and reordering happen, through the vendor kit's
//     faults.Stream; StreamRetention of history, an older position, or the next one after
//     ExpireNextPosition, continues from the oldest retained event and is counted in
//     Stats.ExpiredPositions). Positions are decimal strings from 2^60 (numbers with
//     Options.NumericStreamPositions); a short page is not the end, an empty page is.
//   - restarts of one organization (Options.Epoch): the same org from the seed, then activity,
//     ids and stream positions (from 2^60 + Epoch·2^40) that never collide with an earlier
//     start's, so a client's stored position and event ids stay coherent across a restart.
//   - Webhooks v2: POST/GET /2.0/webhooks, GET/DELETE /2.0/webhooks/{id}; signed deliveries
//     (primary and secondary keys) to the address for activity on or under the target, retried
//     on failure, asynchronously.
//   - per-user rate limit (token bucket, 429 rate_limit_exceeded with retry-after), injected
//     faults (5xx, 429, hanging then 504, truncated bodies).
//   - a simulated enterprise from Options.Seed (users, one admin, inactive users, groups, nested
//     folders, files with lazily generated content and SHA-1), scripted actions (Upload, Edit,
//     UploadVersion, Rename, Move, Trash, Restore, ShareLink, UpdateLink, Unshare, Collaborate,
//     ChangeRole, RemoveCollaboration, Download, Preview, Copy, Login, AddUser, SetUserStatus,
//     AddGroup, AddMember, RemoveMember) and random activity (Step, Run); Activities is the
//     ground truth of every event.
//
// Not emulated: uploads and any other write through the API (only webhooks can be created),
// JWT and OAuth 2.0 user authorization, user event streams (stream_type all/changes/sync, long
// polling), search, metadata, retention and legal holds, comments and tasks, file versions
// listings, pending collaboration invites (external addresses become external Box users whose
// collaboration is accepted), shared-link passwords and expiry, web links, Box Shield, HTTPS-only
// webhook addresses, and webhook auto-deletion. Errors whose exact Box body is undocumented
// (e.g. a webhook on folder "0") use Box's ClientError shape with the nearest documented code.
package box
