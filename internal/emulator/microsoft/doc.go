// Package microsoft is a stateful, in-memory emulator of the Microsoft 365 APIs the OneDrive and
// Microsoft 365 mail connectors use (issue 15, part 1), served over real HTTP (loopback only) for
// connector tests, the conformance suite, benchmarks and, later, `telltale demo`. It is built to
// be driven by a thin REST client over net/http and golang.org/x/oauth2/clientcredentials
// (AuthStyleInParams), with every base URL pointed at the emulator: the authority is the server's
// URL (token URL url + "/{tenant}/oauth2/v2.0/token"), Graph is url + "/v1.0". Every Graph answer
// is checked in its tests against Microsoft Graph's v1.0 CSDL metadata (internal/testutil/csdl),
// every token answer against the Microsoft identity platform's token and AADSTS error shapes.
// Facts come from Microsoft's documentation and the vendor notes (section 3 and the Corrections);
// what Microsoft does not document is modelled and says so where it is produced.
//
// Emulated:
//   - POST /{tenant}/oauth2/v2.0/token: the client credentials grant with a client secret (in the
//     form, or HTTP Basic), the tenant named by its id, verified domain or onmicrosoft.com domain,
//     scope "https://graph.microsoft.com/.default" (and "https://manage.office.com/.default" for
//     the Management Activity API to come). Tokens last Options.TokenTTL (expires_in 3599) on the
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
//
// Not emulated (yet): mail (sentitems message delta, attachments, mailbox limits), the Office 365
// Management Activity API and change-notification subscriptions (the next parts of issue 15);
// any write through the API; SharePoint sites and shared document libraries; $filter, $expand,
// $orderby and $count; delta with a timestamp token; the deltaExcludeParent header (folders
// whose children were added or removed always come too); Prefer: hierarchicalsharing; permission
// inheritance in the permissions list (an item lists only its own); the directory's resource-unit
// costs (every request costs one token); identities' dynamic "email" property (identity is an open
// type in the CSDL and Graph often adds email; the strict schema check allows only declared
// properties, so external addresses appear as displayName and a siteUser loginName).
package microsoft
