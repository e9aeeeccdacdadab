// Package google is a stateful, in-memory emulator of the Google Workspace APIs the Google Drive
// and Gmail connectors use (issue 14), served over real HTTP (loopback only) for connector tests,
// the conformance suite, benchmarks and, later, `telltale demo`. It is built to be driven by the
// official clients, google.golang.org/api (drive/v3, admin/directory/v1, admin/reports/v1,
// gmail/v1) with golang.org/x/oauth2: Drive takes option.WithEndpoint(url + "/drive/v3/"), the
// Directory API, the Reports API and Gmail the host root, and the service account key
// (ServiceAccountKey) has token_uri url + "/token". Every answer is checked in its tests against
// the discovery documents shipped in google.golang.org/api (internal/testutil/discovery); facts
// come from those documents, the vendor notes (sections 2 and 5, Corrections 10 and 11) and the
// sources named where each answer is produced; what no source documents says "modelled" where it
// is produced.
//
// Emulated:
//   - POST /token: the JWT bearer grant (RFC 7523) of the service account: RS256 signature checked
//     with its public key, iss, aud (the token URL), scope and sub (or prn) for domain-wide
//     delegation, granted per scope (Options.DelegatedScopes, SetDelegation). Refusals as Google
//     answers them: a wrong key 400 invalid_grant "Invalid JWT Signature.", an unknown service
//     account 400 invalid_grant "Invalid grant: account not found", a scope not delegated 401
//     unauthorized_client, an unknown, suspended or archived subject 400 invalid_grant. Tokens last
//     Options.TokenTTL (expires_in 3600) on the emulator's clock and act as their subject with their
//     scopes only (403 insufficientPermissions otherwise; 401 authError once expired).
//   - Directory API: users.list (customer my_customer or the customer id, or domain; maxResults
//     1..500, else 400; pageToken), users.get, groups.list (at most 200 a page), members.list (at most
//     200, roles, includeDerivedMembership for nested groups). Only an administrator may call it (403
//     "Not Authorized to access this resource/api").
//   - Drive v3: files.list (corpora user, drive, allDrives with driveId, includeItemsFromAllDrives
//     and supportsAllDrives; q with "'<id>' in parents", "'me' in owners", trashed, mimeType and name clauses joined by
//     "and"; pageSize 1..1000; pageToken), files.get, files.get alt=media (binary files; Docs editors
//     files answer 403 fileNotDownloadable), files.export (Docs, Sheets and Slides as text, CSV or
//     PDF), permissions.list (a file's, or a shared drive's members with its id), drives.list
//     (useDomainAdminAccess for administrators; pageSize 1..100), changes.getStartPageToken and
//     changes.list (per user, or per shared drive with driveId; pageSize 1..1000, includeRemoved,
//     includeItemsFromAllDrives; newStartPageToken on the last page), changes.watch and
//     channels.stop with push deliveries (X-Goog-Channel-ID, X-Goog-Channel-Token,
//     X-Goog-Channel-Expiration, X-Goog-Resource-State sync then change, X-Goog-Resource-ID,
//     X-Goog-Resource-URI, X-Goog-Message-Number) POSTed asynchronously, in order, until the channel
//     expires or is stopped. The fields parameter is honoured (nested selections too); without it
//     files and changes carry Drive's default fields (kind, id, name, mimeType). Files have owners
//     (not in shared drives), parents, size and md5/sha1/sha256 checksums (binary content only),
//     times, trashed, driveId, lastModifyingUser, webViewLink, permissions (user, group, domain,
//     anyone with or without discovery; external addresses; only for those who can share, and not
//     for shared drive items).
//   - The changes feed is per user: a change shows to the users whose corpus (owned, shared with
//     them or a group of theirs, or their shared drives) held the file before or after it, as a
//     removal to those who lost it, and only a file's latest change is listed, in the file's current
//     state. A page token older than Options.ChangeRetention, or the next read after
//     ExpireNextPageToken, answers 400 "Invalid Value" at location pageToken (counted in
//     Stats.ExpiredPageTokens).
//   - Reports API activities.list for applicationName drive (reports.go): each Activity is one
//     activity record (kind, etag, id {time, uniqueQualifier, applicationName, customerId}, actor
//     {email, profileId, callerType USER}, ipAddress stable per user, ownerDomain, events {type
//     access or acl_change, name, parameters}) with the Drive audit appendix's parameters
//     (primary_event, billable, doc_id, doc_title, doc_type, owner, owner_is_shared_drive,
//     owner_shared_drive_id, visibility, ...; old_value/new_value, folder ids and titles as
//     multiValue; target_user, target_domain, old_visibility, visibility_change for sharing; a
//     link change is change_document_visibility with a change_document_access_scope side effect).
//     A record is listed only from Activity.ReportedAt = At + a lag drawn from the seed in
//     [Options.ReportsLagMin, ReportsLagMax] (30 min to 3 h by default), so records arrive out of
//     order. userKey all, an email or an id; startTime and endTime inclusive (400 when start is
//     after end or now); 180 days back at most; maxResults 1..1000; pageToken (a keyset cursor);
//     eventName; filters (==, <>, <, <=, >, >=); actorIpAddress; customerId. Newest first. Only an
//     administrator (401 "Access denied. You are not authorized to read activity records."), scope
//     admin.reports.audit.readonly (403 otherwise). Other applications answer an empty report.
//     Stats.ReportsRecords counts the records served.
//   - Quotas and faults: a per-user token bucket (Options.RateLimitPerMinute, RateBurst) answering 403
//     userRateLimitExceeded, 403 rateLimitExceeded or 429 (Options.RateLimitAnswer), and a
//     per-project one over every user's requests (Options.ProjectRateLimitPerMinute, off by
//     default) answering 403 rateLimitExceeded (or 429); every fault class of
//     internal/connector/kit/faults with Google's error body; Stats per user.
//   - A simulated domain from Options.Seed: users (an administrator, suspended and archived users),
//     groups (one nested), My Drive folders and files (about a third Docs editors files) with random
//     sharing, shared drives with user and group members; scripted actions (Upload, Edit, Rename,
//     Move, Trash, Untrash, Delete, Share, Unshare, Copy, Download, View) and random ones (Step); the
//     Activities are the ground truth, named as the Reports API names Drive events.
//   - Gmail v1 (userId "me" or the impersonated user's address; another user's 403 "Delegation
//     denied", the service account as itself 400 failedPrecondition): users.getProfile,
//     messages.list (q with has:attachment, in:/label:, from:, to:, cc:, bcc:, subject:,
//     filename:, after:, before: and words of the subject or text; labelIds; maxResults up to
//     500; newest first), messages.get (format full: multipart/mixed > multipart/related >
//     multipart/alternative text and HTML, files and inline images with filename, headers with
//     Content-Disposition, body.attachmentId and size; metadata, minimal, raw),
//     messages.attachments.get (base64url data), history.list (startHistoryId required;
//     historyTypes, labelId, maxResults up to 500, pageToken; records of messages added and deleted
//     with their labels at the time; history ids increase with gaps; a startHistoryId older than
//     Options.HistoryRetention or ExpireHistory, or newer than the mailbox's, answers 404
//     notFound; ExpireHistory also retires the mailbox's current id), SetMailDisabled (the user's
//     Gmail calls answer 400 failedPrecondition "Mail service not enabled"), drafts.list and drafts.get, users.watch (topicName in the service account's
//     project, labelIds, labelFilterBehavior include or exclude; expiration 7 days) and users.stop.
//     Scopes gmail.readonly, or gmail.metadata with its limits (no format full or raw, no q, no
//     attachments; even alongside gmail.readonly). Scripted actions SendMail (internal
//     recipients get an inbox copy without Bcc), SaveDraft (every autosave a new message id,
//     labelled DRAFT, the previous one deleted), SendDraft, and random ones (StepMail, apart from
//     Step's random stream); the sent messages are the ground truth (SentMails: recipients,
//     attachments with part id, attachment id, name, MIME type, size, MD5 and SHA-256).
//   - Pub/Sub push of Gmail's notifications: SetPushEndpoint creates a topic and its push
//     subscription; a watched mailbox's change is POSTed asynchronously, in order, in Pub/Sub's
//     envelope ({"message": {"data" (base64 of {"emailAddress", "historyId"}), "messageId",
//     "message_id", "publishTime", "publish_time"}, "subscription"}) with an OIDC token (RS256, kid;
//     iss https://accounts.google.com, aud, azp, sub, email Options.PushServiceAccount,
//     email_verified, iat, exp an hour later) verifiable with the JWK Set at GET /oauth2/v3/certs;
//     RotatePushKey (the retired key served for Options.PushKeyOverlap), LosePushes, retries of a
//     failed push (Options.PushRetries), Stats.PushDeliveries and PushFailures.
//
// Not emulated (yet): Reports activities.watch, records of applications other than drive, the
// orgUnitID, groupIdFilter and newer *Filter parameters (ignored), networkInfo, resourceDetails and
// userDeviceInfo, originating_app_id and deletion_reason, Drive events no scripted action makes
// (preview, print, add_to_folder, *_hierarchy_reconciled, change_acl_editors,
// shared_drive_membership_change, ...); any write through the API (uploads, updates, permission
// changes, Gmail sends and drafts come from the scripted actions); Gmail's threads, labels,
// settings and batch endpoints, labelAdded/labelRemoved history, spam and trash, attached messages
// (message/rfc822), non-ASCII file names (RFC 2231/2047), Gmail's per-method quota units (the
// token bucket counts requests); the Pub/Sub API itself (topics exist only through
// SetPushEndpoint; no pull, no attributes, no dead letters; a topic the emulator was not told of
// answers users.watch as one Gmail may not publish to); files.watch;
// changeType "drive" changes; search beyond the q clauses above; Drive's retries of failed push
// deliveries; moving items between drives; trash or sharing cascading to a folder's children; the
// Directory's query, orderBy and projection parameters; resource keys, labels, revisions and
// about.get. Error texts Google does not document are modelled on its documented ones and say so
// where they are produced.
package google
