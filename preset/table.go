package preset

// Each entry follows the provider's own documentation, cited above it. The
// table is sorted by name (Get searches it); preset_test.go checks every
// field and docs/presets.md lists it.

var bearer = Placement{Header: "Authorization", Template: "Bearer {secret}"}

var table = []Preset{
	// https://airtable.com/developers/web/api/authentication
	// https://airtable.com/developers/web/api/oauth-reference (PKCE
	// required; confidential clients authenticate with HTTP basic)
	{
		Name: "airtable", Title: "Airtable",
		Hosts: []string{"api.airtable.com"}, Placement: bearer,
		OAuth: &OAuth{
			AuthorizeURL: "https://airtable.com/oauth2/v1/authorize",
			TokenURL:     "https://airtable.com/oauth2/v1/token",
			AuthStyle:    "header", PKCE: true,
			Scopes: []string{"data.records:read", "schema.bases:read"},
		},
		Docs: []string{"https://airtable.com/developers/web/api/authentication", "https://airtable.com/developers/web/api/oauth-reference"},
	},
	// https://docs.anthropic.com/en/api/overview: x-api-key, and an
	// anthropic-version header on every request.
	{
		Name: "anthropic", Title: "Anthropic",
		Hosts:       []string{"api.anthropic.com"},
		Placement:   Placement{Header: "X-Api-Key", Template: Secret},
		TokenHeader: "X-Api-Key",
		Note:        "every request also carries anthropic-version (2023-06-01); the SDKs send it",
		Docs:        []string{"https://docs.anthropic.com/en/api/overview"},
	},
	// https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/:
	// authorize with audience=api.atlassian.com and prompt=consent;
	// offline_access for a refresh token; calls go to
	// api.atlassian.com/ex/jira/<cloudid>/... with Bearer.
	{
		Name: "atlassian", Title: "Atlassian (Jira, Confluence)",
		Hosts: []string{"api.atlassian.com"}, Placement: bearer,
		OAuth: &OAuth{
			AuthorizeURL:         "https://auth.atlassian.com/authorize",
			TokenURL:             "https://auth.atlassian.com/oauth/token",
			AuthStyle:            "params",
			Scopes:               []string{"read:jira-work", "offline_access"},
			ExtraAuthorizeParams: map[string]string{"audience": "api.atlassian.com", "prompt": "consent"},
		},
		Docs: []string{"https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/"},
	},
	// https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html
	// https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html
	{
		Name: "aws-s3", Title: "Amazon S3",
		Hosts:     []string{"s3.amazonaws.com", "*.s3.amazonaws.com"},
		Placement: Placement{SigV4Service: "s3"},
		Note:      "the secret is AWS credentials (kind aws); the region is the route's; regional endpoints (s3.<region>.amazonaws.com) are hosts the manifest adds",
		Docs:      []string{"https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-authenticating-requests.html", "https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html"},
	},
	// https://learn.microsoft.com/en-us/azure/ai-services/openai/reference#authentication:
	// api-key header on https://<resource>.openai.azure.com.
	{
		Name: "azure-openai", Title: "Azure OpenAI",
		Hosts:       []string{"*.openai.azure.com"},
		Placement:   Placement{Header: "Api-Key", Template: Secret},
		TokenHeader: "Api-Key",
		Note:        "every request carries ?api-version=; the SDKs send it",
		Docs:        []string{"https://learn.microsoft.com/en-us/azure/ai-services/openai/reference#authentication"},
	},
	// https://developers.cloudflare.com/fundamentals/api/get-started/create-token/
	{
		Name: "cloudflare", Title: "Cloudflare",
		Hosts: []string{"api.cloudflare.com"}, Placement: bearer,
		Docs: []string{"https://developers.cloudflare.com/fundamentals/api/get-started/create-token/"},
	},
	// https://docs.cohere.com/reference/about
	{
		Name: "cohere", Title: "Cohere",
		Hosts: []string{"api.cohere.com", "api.cohere.ai"}, Placement: bearer,
		Docs: []string{"https://docs.cohere.com/reference/about"},
	},
	// https://docs.datadoghq.com/api/latest/authentication/: DD-API-KEY
	// (and DD-APPLICATION-KEY for most reads) on the account's site.
	{
		Name: "datadog", Title: "Datadog",
		Hosts: []string{"api.datadoghq.com", "api.us3.datadoghq.com", "api.us5.datadoghq.com",
			"api.ap1.datadoghq.com", "api.datadoghq.eu", "api.ddog-gov.com"},
		Placement:   Placement{Header: "Dd-Api-Key", Template: Secret},
		TokenHeader: "Dd-Api-Key",
		Note:        "endpoints that also want DD-APPLICATION-KEY need a second key on a route of its own",
		Docs:        []string{"https://docs.datadoghq.com/api/latest/authentication/"},
	},
	// https://api-docs.deepseek.com/
	{
		Name: "deepseek", Title: "DeepSeek",
		Hosts: []string{"api.deepseek.com"}, Placement: bearer,
		Docs: []string{"https://api-docs.deepseek.com/"},
	},
	// https://discord.com/developers/docs/reference#authentication: bot
	// tokens as "Bot <token>", OAuth tokens as "Bearer <token>".
	// https://discord.com/developers/docs/topics/oauth2
	{
		Name: "discord", Title: "Discord",
		Hosts:     []string{"discord.com"},
		Placement: Placement{Header: "Authorization", Template: "Bot {secret}"},
		OAuth: &OAuth{
			AuthorizeURL: "https://discord.com/oauth2/authorize",
			TokenURL:     "https://discord.com/api/oauth2/token",
			RevokeURL:    "https://discord.com/api/oauth2/token/revoke",
			AuthStyle:    "header",
			Scopes:       []string{"identify"},
		},
		Note: "the placement is a bot token's; a route for an OAuth key sets header Authorization \"Bearer {secret}\"",
		Docs: []string{"https://discord.com/developers/docs/reference#authentication", "https://discord.com/developers/docs/topics/oauth2"},
	},
	// https://developers.dropbox.com/oauth-guide: token_access_type=offline
	// for a refresh token; PKCE supported.
	// https://www.dropbox.com/developers/documentation/http/documentation
	{
		Name: "dropbox", Title: "Dropbox",
		Hosts: []string{"*.dropboxapi.com"}, Placement: bearer,
		OAuth: &OAuth{
			AuthorizeURL: "https://www.dropbox.com/oauth2/authorize",
			TokenURL:     "https://api.dropboxapi.com/oauth2/token",
			AuthStyle:    "header", PKCE: true,
			Scopes:               []string{"files.metadata.read"},
			ExtraAuthorizeParams: map[string]string{"token_access_type": "offline"},
		},
		Docs: []string{"https://developers.dropbox.com/oauth-guide", "https://www.dropbox.com/developers/documentation/http/documentation"},
	},
	// https://elevenlabs.io/docs/api-reference/authentication: xi-api-key.
	{
		Name: "elevenlabs", Title: "ElevenLabs",
		Hosts:       []string{"api.elevenlabs.io"},
		Placement:   Placement{Header: "Xi-Api-Key", Template: Secret},
		TokenHeader: "Xi-Api-Key",
		Docs:        []string{"https://elevenlabs.io/docs/api-reference/authentication"},
	},
	// https://ai.google.dev/gemini-api/docs/api-key: x-goog-api-key.
	{
		Name: "gemini", Title: "Google Gemini API",
		Hosts:       []string{"generativelanguage.googleapis.com"},
		Placement:   Placement{Header: "X-Goog-Api-Key", Template: Secret},
		TokenHeader: "X-Goog-Api-Key",
		Docs:        []string{"https://ai.google.dev/gemini-api/docs/api-key"},
	},
	// https://docs.github.com/en/rest/authentication/authenticating-to-the-rest-api
	// https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps
	// (client_id and client_secret as parameters; PKCE S256 supported)
	{
		Name: "github", Title: "GitHub",
		Hosts: []string{"api.github.com", "uploads.github.com"}, Placement: bearer,
		OAuth: &OAuth{
			AuthorizeURL: "https://github.com/login/oauth/authorize",
			TokenURL:     "https://github.com/login/oauth/access_token",
			AuthStyle:    "params", PKCE: true,
			Scopes: []string{"repo"},
		},
		Docs: []string{"https://docs.github.com/en/rest/authentication/authenticating-to-the-rest-api", "https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps"},
	},
	// https://docs.gitlab.com/api/rest/authentication/ (OAuth and personal
	// tokens both as Bearer) and https://docs.gitlab.com/api/oauth2/
	{
		Name: "gitlab", Title: "GitLab.com",
		Hosts: []string{"gitlab.com"}, Placement: bearer,
		OAuth: &OAuth{
			AuthorizeURL: "https://gitlab.com/oauth/authorize",
			TokenURL:     "https://gitlab.com/oauth/token",
			RevokeURL:    "https://gitlab.com/oauth/revoke",
			AuthStyle:    "params", PKCE: true,
			Scopes: []string{"read_api"},
		},
		Docs: []string{"https://docs.gitlab.com/api/rest/authentication/", "https://docs.gitlab.com/api/oauth2/"},
	},
	// https://developers.google.com/identity/protocols/oauth2/web-server:
	// access_type=offline (and prompt=consent) for a refresh token; revoke
	// at oauth2.googleapis.com/revoke.
	{
		Name: "google", Title: "Google APIs",
		Hosts: []string{"*.googleapis.com"}, Placement: bearer,
		OAuth: &OAuth{
			AuthorizeURL: "https://accounts.google.com/o/oauth2/v2/auth",
			TokenURL:     "https://oauth2.googleapis.com/token",
			RevokeURL:    "https://oauth2.googleapis.com/revoke",
			AuthStyle:    "params", PKCE: true,
			Scopes:               []string{"openid", "email"},
			ExtraAuthorizeParams: map[string]string{"access_type": "offline", "prompt": "consent"},
		},
		Docs: []string{"https://developers.google.com/identity/protocols/oauth2/web-server"},
	},
	// https://developers.google.com/maps/documentation/geocoding/get-api-key:
	// ?key= on the web service APIs.
	{
		Name: "google-maps", Title: "Google Maps Platform web services",
		Hosts:     []string{"maps.googleapis.com"},
		Placement: Placement{Query: "key"},
		Docs:      []string{"https://developers.google.com/maps/documentation/geocoding/get-api-key"},
	},
	// https://console.groq.com/docs/api-reference
	{
		Name: "groq", Title: "Groq",
		Hosts: []string{"api.groq.com"}, Placement: bearer,
		Docs: []string{"https://console.groq.com/docs/api-reference"},
	},
	// https://developers.hubspot.com/docs/api/private-apps (Bearer)
	// https://developers.hubspot.com/docs/api/oauth-quickstart-guide
	// (client credentials in the form body)
	{
		Name: "hubspot", Title: "HubSpot",
		Hosts: []string{"api.hubapi.com"}, Placement: bearer,
		OAuth: &OAuth{
			AuthorizeURL: "https://app.hubspot.com/oauth/authorize",
			TokenURL:     "https://api.hubapi.com/oauth/v1/token",
			AuthStyle:    "params",
			Scopes:       []string{"oauth", "crm.objects.contacts.read"},
		},
		Docs: []string{"https://developers.hubspot.com/docs/api/private-apps", "https://developers.hubspot.com/docs/api/oauth-quickstart-guide"},
	},
	// https://huggingface.co/docs/hub/security-tokens
	// https://huggingface.co/docs/inference-providers/index
	{
		Name: "huggingface", Title: "Hugging Face",
		Hosts: []string{"huggingface.co", "router.huggingface.co", "api-inference.huggingface.co"}, Placement: bearer,
		Docs: []string{"https://huggingface.co/docs/hub/security-tokens", "https://huggingface.co/docs/inference-providers/index"},
	},
	// https://linear.app/developers/graphql: a personal API key as the bare
	// Authorization value; OAuth tokens as Bearer.
	// https://linear.app/developers/oauth-2-0-authentication
	{
		Name: "linear", Title: "Linear",
		Hosts:     []string{"api.linear.app"},
		Placement: Placement{Header: "Authorization", Template: Secret},
		OAuth: &OAuth{
			AuthorizeURL: "https://linear.app/oauth/authorize",
			TokenURL:     "https://api.linear.app/oauth/token",
			AuthStyle:    "params",
			Scopes:       []string{"read"},
		},
		Note: "the placement is a personal API key's; a route for an OAuth key sets header Authorization \"Bearer {secret}\"; Linear separates scopes with commas",
		Docs: []string{"https://linear.app/developers/graphql", "https://linear.app/developers/oauth-2-0-authentication"},
	},
	// https://documentation.mailgun.com/docs/mailgun/api-reference/authentication/:
	// basic auth, user "api", the key as password; US and EU regions.
	{
		Name: "mailgun", Title: "Mailgun",
		Hosts:     []string{"api.mailgun.net", "api.eu.mailgun.net"},
		Placement: Placement{BasicAuth: true, BasicAuthUser: "api"},
		Docs:      []string{"https://documentation.mailgun.com/docs/mailgun/api-reference/authentication/"},
	},
	// https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow
	// https://learn.microsoft.com/en-us/graph/auth-v2-user
	{
		Name: "microsoft", Title: "Microsoft Graph",
		Hosts: []string{"graph.microsoft.com"}, Placement: bearer,
		OAuth: &OAuth{
			AuthorizeURL: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
			TokenURL:     "https://login.microsoftonline.com/common/oauth2/v2.0/token",
			AuthStyle:    "params", PKCE: true,
			Scopes: []string{"offline_access", "User.Read"},
		},
		Note: "for one tenant, or client_credentials app keys, name the tenant's endpoints in oauth_provider instead of common",
		Docs: []string{"https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow", "https://learn.microsoft.com/en-us/graph/auth-v2-user"},
	},
	// https://docs.mistral.ai/api/
	{
		Name: "mistral", Title: "Mistral AI",
		Hosts: []string{"api.mistral.ai"}, Placement: bearer,
		Docs: []string{"https://docs.mistral.ai/api/"},
	},
	// https://developers.notion.com/reference/authentication (Bearer, and a
	// Notion-Version header on every request)
	// https://developers.notion.com/docs/authorization (owner=user; client
	// credentials as HTTP basic; no scopes)
	{
		Name: "notion", Title: "Notion",
		Hosts: []string{"api.notion.com"}, Placement: bearer,
		OAuth: &OAuth{
			AuthorizeURL:         "https://api.notion.com/v1/oauth/authorize",
			TokenURL:             "https://api.notion.com/v1/oauth/token",
			AuthStyle:            "header",
			ExtraAuthorizeParams: map[string]string{"owner": "user"},
		},
		Note: "every request also carries Notion-Version (2022-06-28); the SDKs send it",
		Docs: []string{"https://developers.notion.com/reference/authentication", "https://developers.notion.com/docs/authorization", "https://developers.notion.com/reference/versioning"},
	},
	// https://platform.openai.com/docs/api-reference/authentication
	{
		Name: "openai", Title: "OpenAI",
		Hosts: []string{"api.openai.com"}, Placement: bearer,
		Note: "OpenAI-Organization and OpenAI-Project headers, when sent, pass through",
		Docs: []string{"https://platform.openai.com/docs/api-reference/authentication"},
	},
	// https://openrouter.ai/docs/api-reference/authentication
	{
		Name: "openrouter", Title: "OpenRouter",
		Hosts: []string{"openrouter.ai"}, Placement: bearer,
		Docs: []string{"https://openrouter.ai/docs/api-reference/authentication"},
	},
	// https://developer.pagerduty.com/docs/authentication: REST API keys as
	// "Authorization: Token token=<key>".
	{
		Name: "pagerduty", Title: "PagerDuty",
		Hosts:     []string{"api.pagerduty.com", "api.eu.pagerduty.com"},
		Placement: Placement{Header: "Authorization", Template: "Token token={secret}"},
		Docs:      []string{"https://developer.pagerduty.com/docs/authentication"},
	},
	// https://postmarkapp.com/developer/api/overview#authentication:
	// X-Postmark-Server-Token for the server API.
	{
		Name: "postmark", Title: "Postmark",
		Hosts:       []string{"api.postmarkapp.com"},
		Placement:   Placement{Header: "X-Postmark-Server-Token", Template: Secret},
		TokenHeader: "X-Postmark-Server-Token",
		Docs:        []string{"https://postmarkapp.com/developer/api/overview#authentication"},
	},
	// https://resend.com/docs/api-reference/introduction
	{
		Name: "resend", Title: "Resend",
		Hosts: []string{"api.resend.com"}, Placement: bearer,
		Docs: []string{"https://resend.com/docs/api-reference/introduction"},
	},
	// https://www.twilio.com/docs/sendgrid/for-developers/sending-email/authentication
	{
		Name: "sendgrid", Title: "SendGrid",
		Hosts: []string{"api.sendgrid.com"}, Placement: bearer,
		Docs: []string{"https://www.twilio.com/docs/sendgrid/for-developers/sending-email/authentication"},
	},
	// https://shopify.dev/docs/api/admin-graphql#authentication:
	// X-Shopify-Access-Token on https://<shop>.myshopify.com. Shopify's
	// OAuth endpoints are per shop, so the preset carries none.
	{
		Name: "shopify", Title: "Shopify Admin API",
		Hosts:       []string{"*.myshopify.com"},
		Placement:   Placement{Header: "X-Shopify-Access-Token", Template: Secret},
		TokenHeader: "X-Shopify-Access-Token",
		Note:        "OAuth endpoints are per shop (https://<shop>.myshopify.com/admin/oauth/...): name them in an oauth_provider",
		Docs:        []string{"https://shopify.dev/docs/api/admin-graphql#authentication", "https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/authorization-code-grant"},
	},
	// https://api.slack.com/web#authentication (Bearer)
	// https://api.slack.com/authentication/oauth-v2 (client credentials as
	// HTTP basic or parameters; no PKCE for confidential apps)
	{
		Name: "slack", Title: "Slack",
		Hosts: []string{"slack.com", "files.slack.com"}, Placement: bearer,
		OAuth: &OAuth{
			AuthorizeURL: "https://slack.com/oauth/v2/authorize",
			TokenURL:     "https://slack.com/api/oauth.v2.access",
			AuthStyle:    "header",
			Scopes:       []string{"chat:write"},
		},
		Note: "Slack separates scopes with commas: give several as one scope \"a,b\"",
		Docs: []string{"https://api.slack.com/web#authentication", "https://api.slack.com/authentication/oauth-v2"},
	},
	// https://docs.stripe.com/api/authentication: basic auth with the key
	// as user name and no password (Bearer is accepted too).
	{
		Name: "stripe", Title: "Stripe",
		Hosts:     []string{"api.stripe.com", "files.stripe.com"},
		Placement: Placement{BasicAuth: true, BasicAuthUser: Secret},
		Docs:      []string{"https://docs.stripe.com/api/authentication"},
	},
	// https://www.twilio.com/docs/usage/requests-to-twilio: basic auth, the
	// Account SID (or an API key's SID) as user, the auth token (or API
	// key secret) as password.
	{
		Name: "twilio", Title: "Twilio",
		Hosts:     []string{"*.twilio.com"},
		Placement: Placement{BasicAuth: true, UserIs: "the Account SID (AC...) or API key SID (SK...)"},
		Docs:      []string{"https://www.twilio.com/docs/usage/requests-to-twilio"},
	},
	// https://docs.x.ai/docs/api-reference
	{
		Name: "xai", Title: "xAI",
		Hosts: []string{"api.x.ai"}, Placement: bearer,
		Docs: []string{"https://docs.x.ai/docs/api-reference"},
	},
	// https://developers.zoom.us/docs/integrations/oauth/ (client
	// credentials as HTTP basic; PKCE supported; scopes are set on the app)
	{
		Name: "zoom", Title: "Zoom",
		Hosts: []string{"api.zoom.us"}, Placement: bearer,
		OAuth: &OAuth{
			AuthorizeURL: "https://zoom.us/oauth/authorize",
			TokenURL:     "https://zoom.us/oauth/token",
			AuthStyle:    "header", PKCE: true,
		},
		Docs: []string{"https://developers.zoom.us/docs/integrations/oauth/"},
	},
}
