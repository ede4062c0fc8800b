//! The patient's account page (`/account`): linked records, contact information,
//! username, connected apps, log out.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use pfid_store::accounts::Relationship;

use crate::app::AppState;
use crate::http::errors::PageError;
use crate::http::pages::{self, AccountPage};
use crate::http::session;
use crate::oauth::scope;

fn relationship_words(r: Relationship) -> &'static str {
    match r {
        Relationship::Own => "you",
        Relationship::Guardian => "as guardian",
        Relationship::Proxy => "as proxy",
    }
}

/// GET /account
pub async fn get(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let Some(session) = session::current(&state, &req).await? else {
        return Ok(pages::see_other("/login?return_to=%2Faccount", Vec::new()));
    };
    let Some(account) = state.store.account(&session.account_id).await? else {
        return Ok(pages::see_other(
            "/login?return_to=%2Faccount",
            vec![session::removal(&state)],
        ));
    };
    let records = state
        .store
        .linked_patients(&account.id)
        .await?
        .into_iter()
        .map(|(p, r)| (p.full_name(), relationship_words(r)))
        .collect();
    let apps = state
        .store
        .grants_of_account(&account.id)
        .await?
        .into_iter()
        .map(|(g, c)| {
            let sees: Vec<&str> = g.scopes.iter().filter_map(|s| scope::describe(s)).collect();
            let last = g
                .last_used_at
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_else(|| "never".into());
            (c.name, sees.join("; "), last)
        })
        .collect();
    let token = state.csrf.issue(&req);
    let page = AccountPage {
        product: state.product(),
        csrf_token: &token.token,
        notice: None,
        username: &account.username,
        email: &account.email,
        phone: account.phone.as_deref(),
        records,
        apps,
    };
    Ok(pages::html(StatusCode::OK, &page, token.cookies()))
}
