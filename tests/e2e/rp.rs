//! A standard relying party (the `openidconnect` crate) that knows only the issuer URL:
//! discovery, authorization with PKCE and nonce, code exchange, ID token verification
//! through the JWKS, UserInfo.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use pfid_tests::{both_backends, new_browser, query_param, TestServer};

use crate::support::{self, ClientOptions};

both_backends!(
    a_standard_relying_party_signs_a_patient_in_with_es256,
    a_standard_relying_party_signs_a_patient_in_with_rs256
);

async fn a_standard_relying_party_signs_a_patient_in_with_es256(srv: TestServer) {
    sign_in_with(srv, "ES256", CoreJwsSigningAlgorithm::EcdsaP256Sha256).await;
}

async fn a_standard_relying_party_signs_a_patient_in_with_rs256(srv: TestServer) {
    sign_in_with(srv, "RS256", CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256).await;
}

async fn sign_in_with(srv: TestServer, alg: &'static str, core_alg: CoreJwsSigningAlgorithm) {
    let rp = support::client(
        &srv,
        ClientOptions {
            alg,
            ..ClientOptions::default()
        },
    )
    .await;
    let account = support::account(&srv, "jane").await;

    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(srv.base.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(rp.client_id.clone()),
        Some(ClientSecret::new(rp.secret.clone().unwrap())),
    )
    .set_redirect_uri(RedirectUrl::new(rp.redirect_uri.clone()).unwrap());

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();

    // The patient signs in and allows the app, as a browser would.
    let redirect =
        support::authorize_as(&srv, &new_browser(), auth_url.as_str(), "jane", "Allow").await;
    assert_eq!(
        query_param(&redirect, "state").as_deref(),
        Some(csrf.secret().as_str())
    );
    assert_eq!(
        query_param(&redirect, "iss").as_deref(),
        Some(srv.base.as_str())
    );
    let code = query_param(&redirect, "code").unwrap();

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = client.id_token_verifier().set_allowed_algs(vec![core_alg]);
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("the ID token verifies");
    assert_eq!(claims.subject().as_str(), account.id);
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&at_hash));

    let info: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.email().map(|e| e.as_str()), Some("jane@example.com"));
    assert_eq!(
        info.given_name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str()),
        Some("Jane")
    );
}
