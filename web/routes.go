package web

import (
	"net/http"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/static"
)

// routes lists every route of the HTTPS listener.
//
// Dashboard routes use the session cookie; every state-changing one is
// behind Go's cross-origin protection. Handlers wrapped in requireOrg see
// only organizations the user belongs to; requireOrgAdmin adds the role.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()

	// Accounts.
	// An instance without accounts opens on signup (ui_account.go).
	mux.HandleFunc("GET /{$}", s.signupFirst(s.handleHome))
	mux.HandleFunc("GET /signup", s.handleSignupPage)
	mux.HandleFunc("POST /signup", s.handleSignup)
	mux.HandleFunc("GET /login", s.signupFirst(s.handleLoginPage))
	mux.HandleFunc("POST /login", s.handleLogin)
	// The second step of a login with two-step verification
	// (ui_login_verify.go).
	mux.HandleFunc("GET /login/verify", s.handleLoginVerifyPage)
	mux.HandleFunc("POST /login/verify", s.handleLoginVerify)
	// Passkeys at login (ui_passkeys.go): the second step, and signing in
	// with a passkey alone.
	mux.HandleFunc("POST /login/verify/passkey/begin", s.handleVerifyPasskeyBegin)
	mux.HandleFunc("POST /login/verify/passkey", s.handleVerifyPasskey)
	mux.HandleFunc("POST /login/passkey/begin", s.ifWired(s.passkeysOn(), s.handleSignInPasskeyBegin))
	mux.HandleFunc("POST /login/passkey", s.ifWired(s.passkeysOn(), s.handleSignInPasskey))
	mux.HandleFunc("POST /logout", s.handleLogout)
	// Password recovery (ui_password_reset.go): single-use emailed links.
	mux.HandleFunc("GET /password/forgot", s.ifWired(s.resets != nil, s.handleForgotPasswordPage))
	mux.HandleFunc("POST /password/forgot", s.ifWired(s.resets != nil, s.handleForgotPassword))
	mux.HandleFunc("GET /password/reset/{token}", s.ifWired(s.resets != nil, s.handleResetPasswordPage))
	mux.HandleFunc("POST /password/reset/{token}", s.ifWired(s.resets != nil, s.handleResetPassword))
	// A new email is confirmed from its address (ui_email_change.go).
	mux.HandleFunc("GET /email/confirm/{token}", s.ifWired(s.emailChanges != nil, s.handleConfirmEmailPage))
	mux.HandleFunc("POST /email/confirm/{token}", s.ifWired(s.emailChanges != nil, s.handleConfirmEmail))
	// Single sign-on: begin and callback (ui_sso.go); state lives in the
	// server-side session, never in the request.
	mux.HandleFunc("GET /auth/{provider}", s.handleSSOBegin)
	mux.HandleFunc("GET /auth/{provider}/callback", s.handleSSOCallback)
	// Organization single sign-on (ui_org_sso.go): a work email finds the
	// organization whose own provider signs the person in.
	mux.HandleFunc("GET /login/sso", s.handleOrgSSOLoginPage)
	mux.HandleFunc("POST /login/sso", s.handleOrgSSOBegin)
	mux.HandleFunc("GET /auth/org/callback", s.handleOrgSSOCallback)
	// A member whose organization requires SSO gets a session from its
	// provider here (ui_org_sso_gate.go).
	mux.HandleFunc("POST /orgs/{org}/sso", s.requireUser(s.handleOrgSSOContinue))

	// The user's own settings.
	mux.HandleFunc("GET /settings", s.requireUser(s.handleUserSettings))
	mux.HandleFunc("POST /settings/profile", s.requireUser(s.handleUpdateProfile))
	mux.HandleFunc("POST /settings/password", s.requireUser(s.requireStepUp(s.handleChangePassword)))
	mux.HandleFunc("POST /settings/sessions/end-others", s.requireUser(s.handleEndOtherSessions))
	mux.HandleFunc("POST /settings/sessions/{id}/end", s.requireUser(s.handleEndSession))
	// "Confirm it's you" through the identity provider (ui_stepup.go).
	mux.HandleFunc("POST /settings/step-up/{provider}", s.requireUser(s.handleStepUpSSO))
	mux.HandleFunc("POST /settings/step-up/passkey/begin", s.requireUser(s.handleStepUpPasskeyBegin))
	// Two-step verification (ui_security.go).
	mux.HandleFunc("GET /settings/security", s.requireTwoFactor(s.handleSecurity))
	mux.HandleFunc("POST /settings/security/totp/begin", s.requireTwoFactor(s.requireStepUp(s.handleTOTPBegin)))
	mux.HandleFunc("POST /settings/security/totp/confirm", s.requireTwoFactor(s.requireStepUp(s.handleTOTPConfirm)))
	mux.HandleFunc("POST /settings/security/totp/disable", s.requireTwoFactor(s.requireStepUp(s.handleTOTPDisable)))
	mux.HandleFunc("POST /settings/security/recovery-codes", s.requireTwoFactor(s.requireStepUp(s.handleRegenerateRecoveryCodes)))
	// Passkeys (ui_passkeys.go).
	mux.HandleFunc("POST /settings/security/passkeys/begin", s.requirePasskeys(s.handlePasskeyBegin))
	mux.HandleFunc("POST /settings/security/passkeys", s.requirePasskeys(s.requireStepUp(s.handlePasskeyAdd)))
	mux.HandleFunc("POST /settings/security/passkeys/{id}/remove", s.requireTwoFactor(s.ifWired(s.passkeys != nil, s.requireStepUp(s.handlePasskeyRemove))))
	// The bell and Settings > Notifications (ui_notifications.go).
	mux.HandleFunc("GET /notifications", s.requireNotifications(s.handleNotifications))
	mux.HandleFunc("POST /notifications/read-all", s.requireNotifications(s.handleReadAllNotifications))
	mux.HandleFunc("POST /notifications/{id}/open", s.requireNotifications(s.handleOpenNotification))
	mux.HandleFunc("GET /settings/notifications", s.requireNotifications(s.handleNotificationSettings))
	mux.HandleFunc("POST /settings/notifications", s.requireNotifications(s.handleSaveNotificationSettings))
	mux.HandleFunc("GET /settings/sign-in-methods", s.requireUser(s.handleSignInMethods))
	mux.HandleFunc("POST /settings/sign-in-methods/{provider}/link", s.requireUser(s.handleSSOLinkBegin))
	mux.HandleFunc("POST /settings/sign-in-methods/org/{org}/link", s.requireUser(s.handleOrgSSOLinkBegin))
	mux.HandleFunc("POST /settings/sign-in-methods/{id}/unlink", s.requireUser(s.handleUnlinkIdentity))

	// Organizations.
	mux.HandleFunc("GET /orgs/new", s.requireUser(s.handleNewOrgPage))
	mux.HandleFunc("POST /orgs", s.requireUser(s.handleCreateOrg))
	mux.HandleFunc("GET /orgs/{org}", s.requireOrg(s.handleOverview))
	// Bots and conversations (ui_bots.go, ui_conversations.go): Members read,
	// Admins leave and delete.
	mux.HandleFunc("GET /orgs/{org}/bots", s.requireOrg(s.handleBots))
	mux.HandleFunc("GET /orgs/{org}/bots/{bot}", s.requireOrg(s.handleBot))
	mux.HandleFunc("GET /orgs/{org}/bots/{bot}/leave", s.requireOrgAdmin(msgBotsAdmin, s.handleLeaveBotPage))
	mux.HandleFunc("POST /orgs/{org}/bots/{bot}/leave", s.requireOrgAdmin(msgBotsAdmin, s.handleLeaveBot))
	mux.HandleFunc("GET /orgs/{org}/bots/{bot}/delete", s.requireOrgAdmin(msgBotsAdmin, s.handleDeleteBotPage))
	mux.HandleFunc("POST /orgs/{org}/bots/{bot}/delete", s.requireOrgAdmin(msgBotsAdmin, s.handleDeleteBot))
	mux.HandleFunc("GET /orgs/{org}/conversations", s.requireOrg(s.handleConversations))
	mux.HandleFunc("GET /orgs/{org}/conversations/{conv}", s.requireOrg(s.handleConversation))
	mux.HandleFunc("GET /orgs/{org}/conversations/{conv}/delete", s.requireOrgAdmin(msgConversationsAdmin, s.handleDeleteConversationPage))
	mux.HandleFunc("POST /orgs/{org}/conversations/{conv}/delete", s.requireOrgAdmin(msgConversationsAdmin, s.handleDeleteConversation))
	mux.HandleFunc("GET /orgs/{org}/api-reference", s.requireOrg(s.handleAPIReference))
	mux.HandleFunc("GET /orgs/{org}/api-keys", s.requireOrgAdmin(msgAPIKeysAdmin, s.handleAPIKeys))
	mux.HandleFunc("GET /orgs/{org}/api-keys/new", s.requireOrgAdmin(msgAPIKeysAdmin, s.handleNewAPIKey))
	mux.HandleFunc("POST /orgs/{org}/api-keys", s.requireOrgAdmin(msgAPIKeysAdmin, s.handleCreateAPIKey))
	mux.HandleFunc("GET /orgs/{org}/api-keys/{key}", s.requireOrgAdmin(msgAPIKeysAdmin, s.handleAPIKey))
	mux.HandleFunc("POST /orgs/{org}/api-keys/{key}", s.requireOrgAdmin(msgAPIKeysAdmin, s.handleUpdateAPIKey))
	mux.HandleFunc("GET /orgs/{org}/api-keys/{key}/revoke", s.requireOrgAdmin(msgAPIKeysAdmin, s.handleRevokePage))
	mux.HandleFunc("POST /orgs/{org}/api-keys/{key}/revoke", s.requireOrgAdmin(msgAPIKeysAdmin, s.handleRevokeAPIKey))
	mux.HandleFunc("GET /orgs/{org}/api-keys/{key}/roll", s.requireOrgAdmin(msgAPIKeysAdmin, s.handleRollPage))
	mux.HandleFunc("POST /orgs/{org}/api-keys/{key}/roll", s.requireOrgAdmin(msgAPIKeysAdmin, s.handleRollAPIKey))
	mux.HandleFunc("GET /orgs/{org}/audit-log", s.requireOrgAdmin(msgAuditAdmin, s.handleAuditLog))
	mux.HandleFunc("GET /orgs/{org}/logs", s.requireOrgAdmin(msgLogsAdmin, s.handleLogs))
	mux.HandleFunc("GET /orgs/{org}/logs.csv", s.requireOrgAdmin(msgLogsAdmin, s.handleLogsCSV))
	mux.HandleFunc("GET /orgs/{org}/logs/{id}", s.requireOrgAdmin(msgLogsAdmin, s.handleLogEntry))
	mux.HandleFunc("GET /orgs/{org}/members", s.requireOrgAdmin(msgMembersAdmin, s.handleMembers))
	mux.HandleFunc("POST /orgs/{org}/invitations", s.requireOrgAdmin(msgMembersAdmin, s.handleInvite))
	mux.HandleFunc("POST /orgs/{org}/invitations/{inv}/resend", s.requireOrgAdmin(msgMembersAdmin, s.handleResendInvitation))
	mux.HandleFunc("POST /orgs/{org}/invitations/{inv}/revoke", s.requireOrgAdmin(msgMembersAdmin, s.handleRevokeInvitation))
	mux.HandleFunc("POST /orgs/{org}/members/{user}/role", s.requireOrgAdmin(msgMembersAdmin, s.requireStepUp(s.handleChangeRole)))
	mux.HandleFunc("GET /orgs/{org}/members/{user}/remove", s.requireOrgAdmin(msgMembersAdmin, s.handleRemoveMemberPage))
	mux.HandleFunc("POST /orgs/{org}/members/{user}/remove", s.requireOrgAdmin(msgMembersAdmin, s.requireStepUp(s.handleRemoveMember)))
	mux.HandleFunc("POST /orgs/{org}/leave", s.requireOrgMember(s.handleLeaveOrg))
	mux.HandleFunc("POST /orgs/{org}/transfer", s.requireOrg(s.requireStepUp(s.handleTransferOwnership)))
	mux.HandleFunc("GET /invitations/{token}", s.handleInvitation)
	mux.HandleFunc("POST /invitations/{token}/accept", s.requireUser(s.handleAcceptInvitation))
	mux.HandleFunc("GET /orgs/{org}/settings", s.requireOrg(s.handleOrgSettings))
	mux.HandleFunc("POST /orgs/{org}/settings", s.requireOrg(s.handleUpdateOrg))
	mux.HandleFunc("POST /orgs/{org}/delete", s.requireOrg(s.requireStepUp(s.handleDeleteOrg)))
	mux.HandleFunc("GET /orgs/{org}/settings/integrations", s.requireOrgAdmin(msgIntegrationsAdmin, s.handleIntegrations))
	mux.HandleFunc("POST /orgs/{org}/settings/integrations/{kind}", s.requireOrgAdmin(msgIntegrationsAdmin, s.handleSaveIntegration))
	mux.HandleFunc("GET /orgs/{org}/settings/integrations/{kind}/delete", s.requireOrgAdmin(msgIntegrationsAdmin, s.handleDeleteIntegrationPage))
	mux.HandleFunc("POST /orgs/{org}/settings/integrations/{kind}/delete", s.requireOrgAdmin(msgIntegrationsAdmin, s.handleDeleteIntegration))
	mux.HandleFunc("GET /orgs/{org}/settings/permissions", s.requireOrgAdmin(msgPermissionsAdmin, s.handlePermissions))
	mux.HandleFunc("POST /orgs/{org}/settings/permissions", s.requireOrgAdmin(msgPermissionsAdmin, s.handleCreatePermission))
	mux.HandleFunc("GET /orgs/{org}/settings/permissions/{name}/delete", s.requireOrgAdmin(msgPermissionsAdmin, s.handleDeletePermissionPage))
	mux.HandleFunc("POST /orgs/{org}/settings/permissions/{name}/delete", s.requireOrgAdmin(msgPermissionsAdmin, s.handleDeletePermission))
	// Settings > Webhooks (ui_webhooks.go).
	mux.HandleFunc("GET /orgs/{org}/settings/webhooks", s.requireOrgAdmin(msgWebhooksAdmin, s.handleWebhooks))
	mux.HandleFunc("POST /orgs/{org}/settings/webhooks", s.requireOrgAdmin(msgWebhooksAdmin, s.handleCreateWebhook))
	mux.HandleFunc("GET /orgs/{org}/settings/webhooks/{id}", s.requireOrgAdmin(msgWebhooksAdmin, s.handleWebhook))
	mux.HandleFunc("POST /orgs/{org}/settings/webhooks/{id}", s.requireOrgAdmin(msgWebhooksAdmin, s.handleUpdateWebhook))
	mux.HandleFunc("POST /orgs/{org}/settings/webhooks/{id}/test", s.requireOrgAdmin(msgWebhooksAdmin, s.handleTestWebhook))
	mux.HandleFunc("POST /orgs/{org}/settings/webhooks/{id}/roll-secret", s.requireOrgAdmin(msgWebhooksAdmin, s.handleRollWebhookSecret))
	mux.HandleFunc("POST /orgs/{org}/settings/webhooks/{id}/state", s.requireOrgAdmin(msgWebhooksAdmin, s.handleWebhookState))
	mux.HandleFunc("GET /orgs/{org}/settings/webhooks/{id}/delete", s.requireOrgAdmin(msgWebhooksAdmin, s.handleDeleteWebhookPage))
	mux.HandleFunc("POST /orgs/{org}/settings/webhooks/{id}/delete", s.requireOrgAdmin(msgWebhooksAdmin, s.handleDeleteWebhook))
	mux.HandleFunc("POST /orgs/{org}/settings/webhooks/{id}/deliveries/{delivery}/resend", s.requireOrgAdmin(msgWebhooksAdmin, s.handleResendDelivery))
	// Settings > Security (ui_org_security.go): everyone reads, Owners change.
	mux.HandleFunc("GET /orgs/{org}/settings/security", s.requireOrg(s.handleOrgSecurity))
	mux.HandleFunc("POST /orgs/{org}/settings/security", s.requireOrg(s.handleSaveOrgSecurity))
	mux.HandleFunc("POST /orgs/{org}/settings/leak-policy", s.requireOrgAdmin(msgLeakPolicyAdmin, s.handleSaveLeakPolicy))
	// Settings > Key policy (ui_key_policy.go), with the Overview's fix of
	// a key that lives longer than it allows.
	mux.HandleFunc("GET /orgs/{org}/settings/key-policy", s.ifWired(s.keyPolicies != nil, s.requireOrgAdmin(msgKeyPolicyAdmin, s.handleKeyPolicy)))
	mux.HandleFunc("POST /orgs/{org}/settings/key-policy", s.ifWired(s.keyPolicies != nil, s.requireOrgAdmin(msgKeyPolicyAdmin, s.handleSaveKeyPolicy)))
	mux.HandleFunc("GET /orgs/{org}/api-keys/{key}/policy-expiry", s.ifWired(s.keyPolicies != nil, s.requireOrgAdmin(msgAPIKeysAdmin, s.handlePolicyExpiryPage)))
	mux.HandleFunc("POST /orgs/{org}/api-keys/{key}/policy-expiry", s.ifWired(s.keyPolicies != nil, s.requireOrgAdmin(msgAPIKeysAdmin, s.handleSetPolicyExpiry)))
	mux.HandleFunc("GET /orgs/{org}/settings/sso", s.requireOrgAdmin(msgOrgSSOAdmin, s.handleOrgSSOSettings))
	mux.HandleFunc("POST /orgs/{org}/settings/sso", s.requireOrgAdmin(msgOrgSSOAdmin, s.requireStepUp(s.handleSaveOrgSSO)))
	mux.HandleFunc("POST /orgs/{org}/settings/sso/domains/{domain}/verify", s.requireOrgAdmin(msgOrgSSOAdmin, s.handleVerifyOrgSSODomain))
	mux.HandleFunc("GET /orgs/{org}/settings/sso/delete", s.requireOrgAdmin(msgOrgSSOAdmin, s.handleDeleteOrgSSOPage))
	mux.HandleFunc("POST /orgs/{org}/settings/sso/delete", s.requireOrgAdmin(msgOrgSSOAdmin, s.requireStepUp(s.handleDeleteOrgSSO)))

	// Instance administration: superusers only; anyone else gets the 404
	// of an unknown page, so the area is not advertised.
	mux.HandleFunc("GET /admin", s.requireSuperuser(s.handleAdminOverview))
	mux.HandleFunc("GET /admin/organizations", s.requireSuperuser(s.handleAdminOrganizations))
	mux.HandleFunc("POST /admin/organizations/{org}/plan", s.requireSuperuser(s.handleAdminSetPlan))
	mux.HandleFunc("GET /admin/users", s.requireSuperuser(s.handleAdminUsers))
	mux.HandleFunc("POST /admin/users/{user}/disable", s.requireSuperuser(s.handleAdminDisableUser))
	mux.HandleFunc("POST /admin/users/{user}/enable", s.requireSuperuser(s.handleAdminEnableUser))
	mux.HandleFunc("POST /admin/users/{user}/reset-2fa", s.requireSuperuser(s.handleAdminResetTwoFactor))
	mux.HandleFunc("POST /admin/users/{user}/reset-link", s.requireSuperuser(s.ifWired(s.resets != nil, s.handleAdminResetLink)))
	mux.HandleFunc("GET /admin/domains", s.requireSuperuser(s.handleAdminDomains))
	mux.HandleFunc("POST /admin/organizations/{org}/domains/{domain}/approve", s.requireSuperuser(s.handleAdminApproveDomain))
	mux.HandleFunc("GET /admin/settings", s.requireSuperuser(s.handleAdminSettings))
	mux.HandleFunc("POST /admin/settings", s.requireSuperuser(s.handleAdminSaveSettings))

	// Everything else.
	mux.HandleFunc("/", s.notFound)

	cop := http.NewCrossOriginProtection()
	if s.baseURL != nil {
		cop.AddTrustedOrigin(s.baseURL.Scheme + "://" + s.baseURL.Host)
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, http.StatusForbidden, "Cross-origin request refused. Reload the page and try again.")
	}))

	var dashboard http.Handler = recordRoute(mux)
	dashboard = cop.Handler(dashboard)
	dashboard = s.authenticate(dashboard)

	// The API has its own tree: keys, not cookies, so no session and no
	// same-origin check, and HTTPS required.
	root := http.NewServeMux()
	root.Handle("/api/", s.requireHTTPS(recordRoute(s.apiRoutes())))
	// Assets, with content-hashed names: no session is looked up for them.
	root.Handle("GET "+static.Prefix, recordRoute(routeOnly("GET "+static.Prefix, static.Handler().ServeHTTP)))
	// Forward authentication for proxies in front of other services: any
	// method, since proxies may forward the original one.
	root.Handle(forwardRoute, s.requireHTTPS(recordRoute(routeOnly(forwardRoute, s.handleForwardAuth))))
	s.apiExact[forwardRoute] = s.handleForwardAuth // and in apiFast's lane
	root.Handle("GET /healthz", recordRoute(routeOnly("GET /healthz", s.handleHealthz)))
	root.Handle("GET /readyz", recordRoute(routeOnly("GET /readyz", s.handleReadyz)))
	if s.cfg.MetricsToken != "" {
		root.Handle("GET /metrics", s.MetricsHandler(s.cfg.MetricsToken))
	}
	root.Handle("/", dashboard)

	var h http.Handler = s.apiFast(root)
	h = s.securityHeaders(h)
	h = s.observe(h)
	return h
}

// apiRoutes lists every API route with the scope each method needs ("" for
// any valid key).
func (s *Server) apiRoutes() *http.ServeMux {
	mux := http.NewServeMux()
	const read, write, admin = keygate.ScopeRead, keygate.ScopeWrite, keygate.ScopeAdmin
	mux.HandleFunc("GET /api/v1/openapi.json", s.handleOpenAPI)
	// Anyone who finds a key may report it: no key, a limit per address.
	mux.HandleFunc("/api/v1/keys/report-leak", postOnly(s.apiReportLeak))
	s.apiHandle(mux, "/api/v1/me", apiGet("", s.apiMe))
	s.apiHandle(mux, "/api/v1/bots", apiGet(read, s.apiListBots), apiPost(write, s.apiCreateBot))
	s.apiHandle(mux, "/api/v1/bots/{id}", apiGet(read, s.apiGetBot), apiPatch(write, s.apiUpdateBot), apiDelete(write, s.apiDeleteBot))
	s.apiHandle(mux, "/api/v1/bots/{id}/leave", apiPost(write, s.apiLeaveBot))
	s.apiHandle(mux, "/api/v1/conversations", apiGet(read, s.apiListConversations), apiPost(write, s.apiCreateConversation))
	s.apiHandle(mux, "/api/v1/conversations/{id}", apiGet(read, s.apiGetConversation), apiDelete(write, s.apiDeleteConversation))
	s.apiHandle(mux, "/api/v1/analytics", apiGet(read, s.apiAnalytics))
	s.apiHandle(mux, "/api/v1/members", apiGet(admin, s.apiMembers))
	s.apiHandle(mux, "/api/v1/members/{id}", apiPatch(admin, s.apiChangeRole), apiDelete(admin, s.apiRemoveMember))
	s.apiHandle(mux, "/api/v1/invitations", apiGet(admin, s.apiListInvitations), apiPost(admin, s.apiInvite))
	s.apiHandle(mux, "/api/v1/keys", apiGet(admin, s.apiListKeys), apiPost(admin, s.apiCreateKey))
	s.apiHandle(mux, "/api/v1/keys/{id}", apiGet(admin, s.apiGetKey), apiPatch(admin, s.apiUpdateKey), apiDelete(admin, s.apiRevokeKey))
	// The key in the body is the credential: no Authorization needed.
	mux.HandleFunc(verifyRoute, postOnly(s.apiVerifyKey))
	s.apiHandle(mux, "/api/v1/keys/{id}/roll", apiPost(admin, s.apiRollKey))
	s.apiHandle(mux, "/api/v1/integrations", apiGet(admin, s.apiListIntegrations))
	if s.webhooks != nil { // api_webhooks.go
		s.apiHandle(mux, "/api/v1/webhooks", apiGet(admin, s.apiListWebhooks), apiPost(admin, s.apiCreateWebhook))
		s.apiHandle(mux, "/api/v1/webhooks/{id}", apiGet(admin, s.apiGetWebhook), apiPatch(admin, s.apiUpdateWebhook), apiDelete(admin, s.apiDeleteWebhook))
		s.apiHandle(mux, "/api/v1/webhooks/{id}/roll-secret", apiPost(admin, s.apiRollWebhookSecret))
		s.apiHandle(mux, "/api/v1/webhooks/{id}/test", apiPost(admin, s.apiTestWebhook))
		s.apiHandle(mux, "/api/v1/webhooks/{id}/deliveries", apiGet(admin, s.apiListDeliveries))
		s.apiHandle(mux, "/api/v1/webhooks/{id}/deliveries/{delivery}/resend", apiPost(admin, s.apiResendDelivery))
	}
	mux.HandleFunc("/api/", s.apiUnknownPath)
	return mux
}

// Messages of the 403 pages of Admin-only sections.
const (
	msgAPIKeysAdmin     = "You need the Admin role to manage API keys"
	msgPermissionsAdmin = "You need the Admin role to manage permissions"
	msgMembersAdmin     = "You need the Admin role to manage members"
	msgAuditAdmin       = "You need the Admin role to view the audit log"
	msgLogsAdmin        = "You need the Admin role to view the API logs"

	msgIntegrationsAdmin = "You need the Admin role to manage integrations"
	msgOrgSSOAdmin       = "You need the Admin role to manage single sign-on"
	msgLeakPolicyAdmin   = "You need the Admin role to change the leak policy"
	msgKeyPolicyAdmin    = "You need the Admin role to change the key policy"
)
