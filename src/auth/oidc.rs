//! OpenID Connect login: the authorization code flow with PKCE and a nonce
//! (`openidconnect`), against the provider `[server.auth.oidc]` names. The
//! provider's metadata and keys are discovered at the first login and again after
//! an hour or a failure. A login in progress (state, PKCE verifier, nonce) is kept
//! in memory for ten minutes, bounded; its `state` is single-use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, Client, ClientId, ClientSecret,
    CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields,
    IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};

use super::settings::OidcSettings;
use super::{AuthError, Result};

/// The claims beyond the standard ones that a login reads: the user's groups
/// (the claim named by `groups_claim`, collected from whatever the provider sent).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
struct ExtraClaims {
    #[serde(flatten)]
    other: HashMap<String, serde_json::Value>,
}
impl AdditionalClaims for ExtraClaims {}

type IdFields = IdTokenFields<
    ExtraClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type TokenAnswer = StandardTokenResponse<IdFields, CoreTokenType>;
type OidcClient = Client<
    ExtraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenAnswer,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// How long a login may take between leaving for the provider and coming back.
const PENDING_FOR: Duration = Duration::from_secs(600);
/// Logins in progress kept at most (the oldest go first).
const MAX_PENDING: usize = 1_000;
/// Discovered metadata is used this long.
const REDISCOVER_AFTER: Duration = Duration::from_secs(3600);
/// Every call to the provider has this deadline.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

struct Pending {
    verifier: String,
    nonce: String,
    next: String,
    at: Instant,
}

/// Who the provider says logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcUser {
    pub name: String,
    pub groups: Vec<String>,
}

pub struct OidcLogin {
    settings: OidcSettings,
    secret: String,
    http: reqwest::Client,
    discovered: tokio::sync::Mutex<Option<(Instant, OidcClient)>>,
    pending: Arc<Mutex<HashMap<String, Pending>>>,
}

fn failed(what: &str, e: impl std::fmt::Display) -> AuthError {
    AuthError::Oidc(format!("{what}: {e}"))
}

impl OidcLogin {
    /// Reads the client secret now (a missing one fails at start); discovers nothing yet.
    pub fn new(settings: &OidcSettings) -> Result<OidcLogin> {
        let secret = settings.client_secret().map_err(AuthError::Invalid)?;
        let http = reqwest::Client::builder()
            // The provider's answers are read as they are (no redirect followed: SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(CALL_TIMEOUT)
            .build()
            .map_err(|e| failed("an HTTP client for the provider", e))?;
        Ok(OidcLogin {
            settings: settings.clone(),
            secret,
            http,
            discovered: tokio::sync::Mutex::new(None),
            pending: Arc::default(),
        })
    }

    async fn client(&self) -> Result<OidcClient> {
        let mut discovered = self.discovered.lock().await;
        if let Some((at, client)) = discovered.as_ref() {
            if at.elapsed() < REDISCOVER_AFTER {
                return Ok(client.clone());
            }
        }
        let issuer = IssuerUrl::new(self.settings.issuer.clone())
            .map_err(|e| failed("server.auth.oidc.issuer", e))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| failed(&format!("discovering {}", self.settings.issuer), e))?;
        let redirect = RedirectUrl::new(self.settings.redirect_url.clone())
            .map_err(|e| failed("server.auth.oidc.redirect_url", e))?;
        let client = OidcClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(self.secret.clone())),
        )
        .set_redirect_uri(redirect);
        *discovered = Some((Instant::now(), client.clone()));
        Ok(client)
    }

    /// Where to send the browser to log in, and the login's `state` (which the
    /// callback must bring back); `next` is where to go after.
    pub async fn start(&self, next: &str) -> Result<(String, String)> {
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &self.settings.scopes {
            if scope != "openid" {
                request = request.add_scope(Scope::new(scope.clone()));
            }
        }
        let (url, state, nonce) = request.url();
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.retain(|_, p| p.at.elapsed() < PENDING_FOR);
        while pending.len() >= MAX_PENDING {
            let Some(oldest) = pending
                .iter()
                .min_by_key(|(_, p)| p.at)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            pending.remove(&oldest);
        }
        pending.insert(
            state.secret().clone(),
            Pending {
                verifier: verifier.secret().clone(),
                nonce: nonce.secret().clone(),
                next: next.to_string(),
                at: Instant::now(),
            },
        );
        Ok((url.to_string(), state.secret().clone()))
    }

    /// Completes a login the provider sent back with `code` and `state`: returns
    /// the user and where they were going.
    pub async fn finish(&self, code: &str, state: &str) -> Result<(OidcUser, String)> {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(state)
            .filter(|p| p.at.elapsed() < PENDING_FOR)
            .ok_or_else(|| {
                AuthError::Oidc(
                    "this login is unknown or older than 10 minutes (state); start again".into(),
                )
            })?;
        let client = self.client().await?;
        let answer: TokenAnswer = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| failed("the provider's token endpoint", e))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| {
                // A failure may be keys that rotated: discover afresh next time.
                if let Ok(mut d) = self.discovered.try_lock() {
                    *d = None;
                }
                failed("exchanging the code", e)
            })?;
        let id_token = answer
            .id_token()
            .ok_or_else(|| AuthError::Oidc("the provider sent no ID token".into()))?;
        let claims = id_token
            .claims(&client.id_token_verifier(), &Nonce::new(pending.nonce))
            .map_err(|e| failed("the ID token", e))?;
        let extra = &claims.additional_claims().other;
        let claim_text = |name: &str| extra.get(name).and_then(|v| v.as_str()).map(str::to_string);
        let name = match self.settings.username_claim.as_str() {
            "sub" => Some(claims.subject().to_string()),
            "email" => claims.email().map(|e| e.to_string()),
            "preferred_username" => claims.preferred_username().map(|u| u.to_string()),
            other => claim_text(other),
        }
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| claims.subject().to_string());
        let groups = match extra.get(&self.settings.groups_claim) {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|g| g.as_str().map(str::to_string))
                .collect(),
            Some(serde_json::Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        Ok((OidcUser { name, groups }, pending.next))
    }
}
