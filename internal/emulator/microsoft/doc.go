// Package microsoft is a stateful, in-memory emulator of the Microsoft 365 APIs the OneDrive and
// Microsoft 365 mail connectors use (issue 15, parts 1 and 2), served over real HTTP (loopback only) for
// connector tests, the conformance suite, benchmarks and, later, `telltale demo`. It is built to
// be driven by a thin REST client over net/http and golang.org/x/oauth2/clientcredentials
// (AuthStyleInParams), with every base URL pointed at the emulator: the authority is the server's
// URL (token URL url + "/{tenant}/oauth2/v2.0/token"), Graph is url + "/v1.0", the Management
// Activity API's root is url + "/api/v1.0/{tenant}/activity/feed" (in place of
// https://manage.office.com/api/v1.0/{tenant}/activity/feed). Every Graph answer and change
// notification is checked in its tests against Microsoft Graph's v1.0 CSDL metadata
// (internal/testutil/csdl), every token answer against the Microsoft identity platform's token and
// AADSTS error shapes, every Management API answer against its reference and every audit record
// against a field table copied from its schema (o365-mgmt-api-schema.md).
// Facts come from Microsoft's documentation and the vendor notes (section 3 and the Corrections);
// what Microsoft does not document is modelled and says so where it is produced.
//
// Emulated:
//   - POST /{tenant}/oauth2/v2.0/token: the client credentials grant with a client secret (in the
//     form, or HTTP Basic), the tenant named by its id, verified domain or onmicrosoft.com domain,
//     scope "https://graph.microsoft.com/.default" (and "https://manage.office.com/.default" for
//     the Management Activity API). Tokens last Options.TokenTTL (expires_in 3599) on the
//     emulator's clock and carry the application permissions consented when they were issued
//     (Options.Consent, SetConsent). Refusals with Entra ID's bodies (error, error_description
//     with Trace ID, Correlation ID and Timestamp, error_codes, timestamp, trace_id,
//     correlation_id, error_uri): AADSTS7000215 bad secret (401 invalid_client), 700016
//     application not in the tenant (400 unauthorized_client), 90002 unknown tenant (400
//     invalid_request), 1002012 scope without /.default (400 invalid_scope), 500011 unknown
//     resource, 7000216 no secret, 900144 missing parameter, 70003 other grant types. A tenant
//     without admin consent still issues tokens, without permissions; Graph refuses them with 401
//     AccessDenied "Either scp or roles claim need to be present in the token.", and a token
//     without the permission a call needs with 403 Authorization_RequestDenied "Insufficient
//     privileges to complete the operation." (directory) or 403 accessDenied (files).
//   - Graph authentication: 401 InvalidAuthenticationToken for a missing, unknown, expired or
//     other-resource token (with WWW-Authenticate); request-id and client-request-id headers;
//     errors as {"error":{"code","message","innerError":{"date","request-id",
//     "client-request-id"}}}.
//   - Directory: GET /users (default properties without $select; accountEnabled and
//     assignedLicenses with it; $top 1..999, default 100; @odata.nextLink with $skiptoken),
//     /users/{id | userPrincipalName}, /groups, /groups/{id}, /groups/{id}/members and
//     /transitiveMembers (nested groups expanded, @odata.type on each member).
//   - OneDrive for Business: /users/{id}/drive (404 ResourceNotFound "User's mysite not found."
//     for a user without a license), /drives/{id}, /drives/{id}/root, /drives/{id}/items/{id},
//     /drives/{id}/root/delta and /users/{id}/drive/root/delta (pages of $top, @odata.nextLink
//     then @odata.deltaLink, token=latest, latest state once per item in the order of last
//     change, items repeated within a round, deleted facets, no parentReference.path nor cTag in
//     delta, sharing changes with "@microsoft.graph.sharedChanged" under Prefer:
//     deltashowsharingchanges, 410 resyncRequired with a Location next link for a link older than
//     Options.DeltaTokenTTL, unknown, or expired by ExpireDeltaTokens),
//     /drives/{id}/items/{id}/permissions (the owner's, sharing links of scope anonymous,
//     organization or users with type view or edit and grantedToIdentitiesV2, direct grants with
//     grantedToV2, invitations of external addresses), /drives/{id}/items/{id}/content (302 to a
//     pre-authenticated URL on the emulator, /download/..., needing no Authorization, valid an
//     hour). Files carry file.hashes.quickXorHash only (internal/connector/kit/quickxor): the one
//     hash OneDrive for Business guarantees (sha1Hash and crc32Hash are OneDrive personal's,
//     sha256Hash is documented as not supported).
//   - Throttling and faults: a token bucket per application per tenant (Options.RateLimitPerMinute,
//     RateBurst) answering 429 with Retry-After in seconds (activityLimitReached for drives,
//     TooManyRequests for the directory); every fault class of internal/connector/kit/faults with
//     Graph's error body (503 serviceNotAvailable and 429 with Retry-After); Stats per user.
//   - A simulated tenant from Options.Seed: users (an administrator, unlicensed users without a
//     OneDrive, disabled users), groups (one nested), OneDrive folders and files with random
//     sharing; scripted actions (Upload, CreateFolder, Edit, Rename, Move, Delete, ShareLink,
//     Invite, ShareExternal, Unshare, Download, AddUser, SetLicensed, SetEnabled) and random ones
//     (Step); the Activities are the ground truth, named as Audit.SharePoint operations.
//   - The Office 365 Management Activity API (mgmt.go): subscriptions/start (AF20024 when already
//     enabled, AF429 for a second start within 15 minutes), stop (AF20022 without one), list;
//     subscriptions/content with startTime/endTime in the documented formats (both or neither,
//     at most 24 hours apart, start before end and at most 7 days ago, else AF20055; AF20002 for
//     a malformed time), blobs listed by availability in [start, end), NextPageUri paging every
//     Options.AuditPageSize (AF20031 for a bad nextPage); audit/{contentId} blobs, JSON arrays of
//     Audit.SharePoint records (AF20050 unknown, AF20051 older than 7 days, AF20052 malformed).
//     Records are made from the ground-truth Activities at action time (common schema, SharePoint
//     base, file operations or sharing schema; Workload OneDrive, CreationTime without zone),
//     available after a lag (Options.AuditLagMin..Max, default 60 to 90 minutes, the documented
//     typical availability), gathered into blobs every Options.AuditBlobInterval, shuffled within a
//     blob, sometimes repeated in a later blob (Options.AuditDuplicate); first content held back by
//     Options.AuditFirstContentDelay (up to 12 h documented); content made while a subscription is
//     stopped is never listed. Authentication: a manage.office.com token with ActivityFeed.Read
//     (401 AF10001 without it), for the tenant in the URL (AF20013 not a GUID, AF20010 another);
//     the tenant's quota (2,000 a minute) and a shared pool for requests without
//     PublisherIdentifier, answered 403 AF429 "Too many requests. Method=..., PublisherId=...";
//     faults as AF429 or AF50000. Audit.Exchange holds a Send record for every sent mail
//     (Exchange Mailbox schema, Item with Subject, attachment names and sizes,
//     InternetMessageId; recipientList); the other content types are subscribable and empty.
//   - Mail (mail.go): /users/{id}/mailFolders/sentitems/messages/delta (pages of Prefer:
//     odata.maxpagesize or $top, $skiptoken next links and $deltatoken delta links, $select,
//     changeType, deleted messages as @removed, 410 SyncStateNotFound for an expired or unknown
//     state), /users/{id}/messages/{id} (and under mailFolders/sentitems), its $value (MIME),
//     /attachments ($select) and /attachments/{id} with fileAttachment (contentBytes, name, size,
//     contentType), itemAttachment (an attached message) and referenceAttachment, and
//     /attachments/{id}/$value (a file's bytes, an item's MIME). 404 MailboxNotEnabledForRESTAPI
//     for an unlicensed user, ErrorInvalidUser, ErrorItemNotFound, 403 ErrorAccessDenied without
//     Mail.Read. Exchange's limits per app per mailbox: Options.MailboxConcurrency (4) at once and
//     Options.MailboxRequestsPer10Min (10,000), 429 ApplicationThrottled with Retry-After. Scripted
//     SendMail (to/cc/bcc, attachments of each kind; a reference to a drive item shares it with the
//     recipients by a specific-people link, SecureLinkCreated and AddedToSecureLink) and
//     DeleteMail, and random mail (StepMail); SentMails is the ground truth, with each
//     attachment's SHA-256.
//   - Change notifications (subs.go): POST /subscriptions for drives/{id}/root,
//     users/{id}/drive/root (changeType updated) and users/{id}/mailFolders('sentitems')/messages
//     (created, updated, deleted), validating notificationUrl and lifecycleNotificationUrl with
//     the validationToken handshake (200 text/plain echo within Options.ValidationTimeout, 10 s;
//     else 400 ValidationError or InvalidRequest "...timed out."), lifetimes at most 42,300
//     (driveItem) and 10,070 (message) minutes (400 ExtensionError), clientState up to 128
//     characters; GET, PATCH (renew), DELETE, POST .../reauthorize; deliveries {"value":[{
//     subscriptionId, subscriptionExpirationDateTime, changeType, resource, clientState, tenantId,
//     resourceData for messages}]} POSTed in the background when a drive changes or a message is
//     sent or deleted, retried on non-2xx or no answer within Options.PushTimeout (3 s);
//     SendLifecycle(reauthorizationRequired | subscriptionRemoved | missed) to lifecycle URLs
//     (driveItem subscriptions get reauthorizationRequired only; subscriptionRemoved removes);
//     LosePushes(n) drops deliveries; Stats PushValidations, PushDeliveries, PushFailures,
//     PushLost. Expiry follows the emulator's clock, deliveries real time.
//   - Suite controls (suite.go): AddToGroup, RemoveFromGroup, SetRateLimit, SetDriveLocked
//     (requests under /drives/{id} answer 423 resourceLocked), and Stats.EarlyRetries (a request
//     answered 429 sent again before its Retry-After), for the connector conformance suite.
//
// Not emulated: any write through the API (mail is sent by SendMail, not /sendMail); SharePoint
// sites and shared document libraries; $filter, $expand (an itemAttachment's item), $orderby and
// $count; delta with a timestamp token; the deltaExcludeParent header (folders whose children were
// added or removed always come too); Prefer: hierarchicalsharing; permission inheritance in the
// permissions list (an item lists only its own); the directory's resource-unit costs (every request
// costs one token); identities' dynamic "email" property (identity is an open type in the CSDL and
// Graph often adds email; the strict schema check allows only declared properties, so external
// addresses appear as displayName and a siteUser loginName); mail folders other than sent items,
// received mail, message updates and immutable ids; referenceAttachment's sourceUrl (v1.0 declares
// none: the link is in the message body, as Outlook writes it; beta is not emulated); Management
// API webhooks (a start's body is ignored and webhook is null), subscriptions/notifications and
// resources/dlpSensitiveTypes; Audit.SharePoint records of actions the emulator has no action for
// (FileCopied, FileSyncDownloadedFull, FilePreviewed, FileRestored, FileDeleted*StageRecycleBin,
// ...) and records of the tenant's generation; rich notifications (includeResourceData,
// encryption), notification coalescing and the throttling of slow endpoints; HTTPS (notification
// URLs may be http).
package microsoft
