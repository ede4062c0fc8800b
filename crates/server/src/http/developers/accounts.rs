//! Developer accounts: sign-up confirmed by an emailed link, login and logout, password
//! reset. Every failure reads alike whether or not the email has an account.

use super::*;

#[derive(Template)]
#[template(path = "developers/signup.html")]
struct SignupPage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    display_name: &'a str,
    organization: &'a str,
    email: &'a str,
    rule: &'static str,
    errors: &'a Errors,
}

fn signup_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    f: &Fields,
    errors: &Errors,
) -> HttpResponse {
    let form = state.csrf.issue(req);
    let (name, org, email) = (
        f.text("display_name"),
        f.text("organization"),
        f.text("email"),
    );
    let page = SignupPage {
        product: state.product(),
        csrf_token: &form.token,
        display_name: &name,
        organization: &org,
        email: &email,
        rule: password::RULE_TEXT,
        errors,
    };
    pages::html(status, &page, form.cookies())
}

/// GET /developers/signup
pub(super) async fn signup_form(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    signup_page(
        &state,
        &req,
        StatusCode::OK,
        &Fields(Vec::new()),
        &Errors::default(),
    )
}

#[derive(Template)]
#[template(path = "developers/email/confirm.txt")]
struct ConfirmText<'a> {
    product: &'a str,
    name: &'a str,
    link: &'a str,
    valid_for: &'a str,
}

#[derive(Template)]
#[template(path = "developers/email/confirm.html")]
struct ConfirmHtml<'a> {
    product: &'a str,
    name: &'a str,
    link: &'a str,
    valid_for: &'a str,
}

#[derive(Template)]
#[template(path = "developers/email/already_registered.txt")]
struct AlreadyText<'a> {
    product: &'a str,
    login: &'a str,
    forgot: &'a str,
}

#[derive(Template)]
#[template(path = "developers/email/already_registered.html")]
struct AlreadyHtml<'a> {
    product: &'a str,
    login: &'a str,
    forgot: &'a str,
}

/// POST /developers/signup: always answers "check your email" once the form is valid,
/// whether or not the address has an account; the mailbox learns which.
pub(super) async fn signup(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let f = Fields::parse(&body);
    if !state.csrf.verify(&req, f.csrf().as_deref()) {
        return Ok(signup_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &f,
            &Errors::of("", EXPIRED_FORM),
        ));
    }
    let (name, org, email) = (
        f.text("display_name").trim().to_owned(),
        f.text("organization").trim().to_owned(),
        f.text("email").trim().to_owned(),
    );
    let mut errors = Errors::default();
    if let Err(StoreError::Invalid(m)) = pfid_store::developers::validate_name(&name, "Your name") {
        errors.add("display_name", format!("{m}."));
    }
    if !org.is_empty() {
        if let Err(StoreError::Invalid(m)) =
            pfid_store::developers::validate_name(&org, "The organization")
        {
            errors.add("organization", format!("{m}."));
        }
    }
    if normalize::validate_email(&email).is_err() {
        errors.add("email", "Enter a valid email address.");
    }
    check_new_password(&f.text("password"), &f.text("password2"), &mut errors);
    if !errors.is_empty() {
        return Ok(signup_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &f,
            &errors,
        ));
    }
    if over_limit(&state, &mail_buckets(&state, &req, "signup", &email)).await? {
        return Ok(signup_page(
            &state,
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            &f,
            &Errors::of("", throttled_message(&state)),
        ));
    }
    // Hashed whether or not the address has an account, so the time taken tells nothing.
    let password_hash = hash_password(&state, f.text("password")).await?;
    let lifetime = state.settings.developers.verification_link.0;
    let issuer = state.settings.server.issuer.clone();
    let product = state.product().to_owned();
    let valid_for = in_words(lifetime);
    let (recipient, shown_name) = (email.clone(), name.clone());
    let new = NewDeveloper {
        email: email.clone(),
        display_name: name,
        organization: (!org.is_empty()).then_some(org),
        password_hash,
    };
    state
        .store
        .start_developer_signup(new, state.now(), lifetime, move |mail| match mail {
            SignupMail::Confirm { token } => {
                let link = issuer.url(&format!("/developers/verify?token={token}"));
                NewMessage {
                    channel: Channel::Email,
                    recipient,
                    subject: Some(format!("Confirm your {product} developer account")),
                    body_text: render_or_log(&ConfirmText {
                        product: &product,
                        name: &shown_name,
                        link: &link,
                        valid_for: &valid_for,
                    }),
                    body_html: Some(render_or_log(&ConfirmHtml {
                        product: &product,
                        name: &shown_name,
                        link: &link,
                        valid_for: &valid_for,
                    })),
                }
            }
            SignupMail::AlreadyRegistered => {
                let login = issuer.url("/developers/login");
                let forgot = issuer.url("/developers/forgot-password");
                NewMessage {
                    channel: Channel::Email,
                    recipient,
                    subject: Some(format!("Your {product} developer account")),
                    body_text: render_or_log(&AlreadyText {
                        product: &product,
                        login: &login,
                        forgot: &forgot,
                    }),
                    body_html: Some(render_or_log(&AlreadyHtml {
                        product: &product,
                        login: &login,
                        forgot: &forgot,
                    })),
                }
            }
        })
        .await?;
    state.outbox_wakeup.wake();
    Ok(message_page(
        &state,
        "Check your email",
        vec![
            format!(
                "We sent a message to {email}. Follow the link in it to confirm your address \
                 and finish creating your developer account."
            ),
            format!(
                "The link works for {}. Nothing arrived? Check your spam folder, or sign up again.",
                in_words(lifetime)
            ),
        ],
        None,
    ))
}

#[derive(serde::Deserialize)]
pub(super) struct TokenQuery {
    token: Option<String>,
}

#[derive(Template)]
#[template(path = "developers/verify.html")]
struct VerifyPage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    token: &'a str,
}

fn link_gone(state: &AppState, again: (&str, &str)) -> HttpResponse {
    message_page(
        state,
        "This link no longer works",
        vec![LINK_GONE.to_owned()],
        Some(again),
    )
}

/// GET /developers/verify?token=…: asks to confirm, so that a mail scanner following
/// the link does not use it up.
pub(super) async fn verify_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, PageError> {
    let token = query.token.clone().unwrap_or_default();
    if token.is_empty()
        || !state
            .store
            .developer_signup_link_is_live(&token, state.now())
            .await?
    {
        return Ok(link_gone(&state, ("/developers/signup", "Sign up again")));
    }
    let form = state.csrf.issue(&req);
    let page = VerifyPage {
        product: state.product(),
        csrf_token: &form.token,
        token: &token,
    };
    Ok(pages::html(StatusCode::OK, &page, form.cookies()))
}

/// POST /developers/verify: creates the account and signs it in.
pub(super) async fn verify(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let f = Fields::parse(&body);
    if !state.csrf.verify(&req, f.csrf().as_deref()) {
        return Err(PageError::forbidden(EXPIRED_FORM));
    }
    let now = state.now();
    match state
        .store
        .confirm_developer_signup(&f.text("token"), now)
        .await?
    {
        SignupConfirmation::Created(dev) => {
            let ip = client_ip(&req, state.settings.server.trust_forwarded_for);
            state
                .store
                .record_event(audit("developer_signed_up", &dev, ip.as_deref()), now)
                .await?;
            // Whoever was signed in on this browser is not any more.
            if let Some((old, _)) = signed_in(&state, &req).await? {
                state.store.end_developer_session(&old.id, now).await?;
            }
            let (_, cookie) = state
                .store
                .create_developer_session(&dev.id, now, state.settings.lifetimes.session.0)
                .await?;
            Ok(pages::see_other(
                "/developers",
                vec![session_cookie(&state, cookie)],
            ))
        }
        SignupConfirmation::AlreadyRegistered => Ok(message_page(
            &state,
            "You already have an account",
            vec!["This address already has a developer account.".into()],
            Some(("/developers/login", "Log in")),
        )),
        SignupConfirmation::Invalid => {
            Ok(link_gone(&state, ("/developers/signup", "Sign up again")))
        }
    }
}

#[derive(Template)]
#[template(path = "developers/login.html")]
struct LoginPage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    notice: Option<&'a str>,
}

fn login_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    email: &str,
    error: Option<&str>,
) -> HttpResponse {
    let form = state.csrf.issue(req);
    let page = LoginPage {
        product: state.product(),
        csrf_token: &form.token,
        email,
        error,
        notice: None,
    };
    pages::html(status, &page, form.cookies())
}

/// GET /developers/login
pub(super) async fn login_form(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    if signed_in(&state, &req).await?.is_some() {
        return Ok(pages::see_other("/developers", Vec::new()));
    }
    Ok(login_page(&state, &req, StatusCode::OK, "", None))
}

/// POST /developers/login: one message for every failure, one password verification
/// whether or not the email has an account, failures counted per email and per address.
pub(super) async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let f = Fields::parse(&body);
    let email = f.text("email").trim().to_owned();
    if !state.csrf.verify(&req, f.csrf().as_deref()) {
        return Ok(login_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &email,
            Some(EXPIRED_FORM),
        ));
    }
    let now = state.now();
    let throttle = &state.settings.throttle;
    let window = throttle.login_window.0;
    let ip = client_ip(&req, state.settings.server.trust_forwarded_for);
    let name_bucket = format!("devlogin:email:{}", normalize::email(&email));
    let ip_bucket = ip.as_ref().map(|ip| format!("devlogin:ip:{ip}"));
    let by_name = state.store.rate_peek(&name_bucket, now, window).await?;
    let by_ip = match &ip_bucket {
        Some(b) => Some(state.store.rate_peek(b, now, window).await?),
        None => None,
    };
    if by_name.hits >= throttle.login_failures_per_account
        || by_ip.is_some_and(|s| s.hits >= throttle.login_failures_per_address)
    {
        let message = format!(
            "Too many failed attempts. Please wait {} and try again, or reset your password.",
            in_words(window)
        );
        return Ok(login_page(
            &state,
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            &email,
            Some(&message),
        ));
    }
    let developer = if email.is_empty() {
        None
    } else {
        state.store.developer_by_email(&email).await?
    };
    let hasher = state.passwords.clone();
    let password = f.text("password");
    let verified = tokio::task::spawn_blocking(move || match developer {
        Some(dev) if hasher.verify(&dev.password_hash, &password) => Some(dev),
        Some(_) => None,
        None => {
            hasher.verify_nothing(&password);
            None
        }
    })
    .await
    .map_err(PageError::internal)?;
    let Some(dev) = verified else {
        state.store.rate_hit(&name_bucket, now, window).await?;
        if let Some(b) = &ip_bucket {
            state.store.rate_hit(b, now, window).await?;
        }
        state
            .store
            .record_event(
                AuditEvent::new("developer_login_failed")
                    .ip(ip.as_deref())
                    .detail(
                        serde_json::json!({"email": email.chars().take(64).collect::<String>()}),
                    ),
                now,
            )
            .await?;
        return Ok(login_page(
            &state,
            &req,
            StatusCode::OK,
            &email,
            Some(INCORRECT),
        ));
    };
    state.store.rate_clear(&name_bucket).await?;
    // A new session at every login (no fixation); the old one ends.
    if let Some((old, _)) = signed_in(&state, &req).await? {
        state.store.end_developer_session(&old.id, now).await?;
    }
    let (_, cookie) = state
        .store
        .create_developer_session(&dev.id, now, state.settings.lifetimes.session.0)
        .await?;
    let mut event = audit("developer_login", &dev, ip.as_deref());
    if let Some(ua) = user_agent(&req) {
        event = event.detail(serde_json::json!({"developer_id": dev.id, "user_agent": ua}));
    }
    state.store.record_event(event, now).await?;
    Ok(pages::see_other(
        "/developers",
        vec![session_cookie(&state, cookie)],
    ))
}

/// POST /developers/logout
pub(super) async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let f = Fields::parse(&body);
    if !state.csrf.verify(&req, f.csrf().as_deref()) {
        return Err(PageError::forbidden(EXPIRED_FORM));
    }
    if let Some((session, dev)) = signed_in(&state, &req).await? {
        let now = state.now();
        state.store.end_developer_session(&session.id, now).await?;
        state
            .store
            .record_event(audit("developer_logout", &dev, None), now)
            .await?;
    }
    let page = MessagePage {
        product: state.product(),
        title: "You have logged out",
        paragraphs: vec![
            "You are no longer signed in to the developer portal on this browser.".into(),
        ],
        link: Some(("/developers/login".into(), "Log in again".into())),
    };
    Ok(pages::html(
        StatusCode::OK,
        &page,
        vec![session_removal(&state)],
    ))
}

#[derive(Template)]
#[template(path = "developers/forgot.html")]
struct ForgotPage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    email: &'a str,
    errors: &'a Errors,
}

fn forgot_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    email: &str,
    errors: &Errors,
) -> HttpResponse {
    let form = state.csrf.issue(req);
    let page = ForgotPage {
        product: state.product(),
        csrf_token: &form.token,
        email,
        errors,
    };
    pages::html(status, &page, form.cookies())
}

/// GET /developers/forgot-password
pub(super) async fn forgot_form(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    forgot_page(&state, &req, StatusCode::OK, "", &Errors::default())
}

#[derive(Template)]
#[template(path = "developers/email/reset.txt")]
struct ResetText<'a> {
    product: &'a str,
    name: &'a str,
    link: &'a str,
    valid_for: &'a str,
}

#[derive(Template)]
#[template(path = "developers/email/reset.html")]
struct ResetHtml<'a> {
    product: &'a str,
    name: &'a str,
    link: &'a str,
    valid_for: &'a str,
}

/// POST /developers/forgot-password: the same answer whether or not the address has an
/// account; only an account's address receives a link.
pub(super) async fn forgot(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let f = Fields::parse(&body);
    let email = f.text("email").trim().to_owned();
    if !state.csrf.verify(&req, f.csrf().as_deref()) {
        return Ok(forgot_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &email,
            &Errors::of("", EXPIRED_FORM),
        ));
    }
    if normalize::validate_email(&email).is_err() {
        return Ok(forgot_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &email,
            &Errors::of("email", "Enter a valid email address."),
        ));
    }
    if over_limit(&state, &mail_buckets(&state, &req, "reset", &email)).await? {
        return Ok(forgot_page(
            &state,
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            &email,
            &Errors::of("", throttled_message(&state)),
        ));
    }
    let lifetime = state.settings.lifetimes.reset_link.0;
    let issuer = state.settings.server.issuer.clone();
    let product = state.product().to_owned();
    let valid_for = in_words(lifetime);
    state
        .store
        .start_developer_reset(&email, state.now(), lifetime, move |dev, token| {
            let link = issuer.url(&format!("/developers/reset-password?token={token}"));
            NewMessage {
                channel: Channel::Email,
                recipient: dev.email.clone(),
                subject: Some(format!("Reset your {product} developer password")),
                body_text: render_or_log(&ResetText {
                    product: &product,
                    name: &dev.display_name,
                    link: &link,
                    valid_for: &valid_for,
                }),
                body_html: Some(render_or_log(&ResetHtml {
                    product: &product,
                    name: &dev.display_name,
                    link: &link,
                    valid_for: &valid_for,
                })),
            }
        })
        .await?;
    state.outbox_wakeup.wake();
    Ok(message_page(
        &state,
        "Check your email",
        vec![format!(
            "If {email} is the address of a developer account, we sent it a link to choose a \
             new password. The link works for {}.",
            in_words(lifetime)
        )],
        Some(("/developers/login", "Back to log in")),
    ))
}

#[derive(Template)]
#[template(path = "developers/reset.html")]
struct ResetPage<'a> {
    product: &'a str,
    csrf_token: &'a str,
    token: &'a str,
    rule: &'static str,
    errors: &'a Errors,
}

fn reset_page(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    token: &str,
    errors: &Errors,
) -> HttpResponse {
    let form = state.csrf.issue(req);
    let page = ResetPage {
        product: state.product(),
        csrf_token: &form.token,
        token,
        rule: password::RULE_TEXT,
        errors,
    };
    pages::html(status, &page, form.cookies())
}

/// GET /developers/reset-password?token=…
pub(super) async fn reset_form(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<TokenQuery>,
) -> Result<HttpResponse, PageError> {
    let token = query.token.clone().unwrap_or_default();
    if token.is_empty()
        || !state
            .store
            .developer_reset_link_is_live(&token, state.now())
            .await?
    {
        return Ok(link_gone(
            &state,
            ("/developers/forgot-password", "Ask for a new link"),
        ));
    }
    Ok(reset_page(
        &state,
        &req,
        StatusCode::OK,
        &token,
        &Errors::default(),
    ))
}

/// POST /developers/reset-password: sets the password and signs out every browser.
pub(super) async fn reset(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let f = Fields::parse(&body);
    let token = f.text("token");
    if !state.csrf.verify(&req, f.csrf().as_deref()) {
        return Ok(reset_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &token,
            &Errors::of("", EXPIRED_FORM),
        ));
    }
    let mut errors = Errors::default();
    check_new_password(&f.text("password"), &f.text("password2"), &mut errors);
    if !errors.is_empty() {
        return Ok(reset_page(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            &token,
            &errors,
        ));
    }
    let hash = hash_password(&state, f.text("password")).await?;
    let now = state.now();
    match state
        .store
        .reset_developer_password(&token, hash, now)
        .await?
    {
        Some(dev) => {
            let ip = client_ip(&req, state.settings.server.trust_forwarded_for);
            state
                .store
                .record_event(audit("developer_password_reset", &dev, ip.as_deref()), now)
                .await?;
            state
                .store
                .rate_clear(&format!("devlogin:email:{}", normalize::email(&dev.email)))
                .await?;
            let page = MessagePage {
                product: state.product(),
                title: "Your password was changed",
                paragraphs: vec![
                    "Log in with your new password. Every browser that was signed in has been signed out."
                        .into(),
                ],
                link: Some(("/developers/login".into(), "Log in".into())),
            };
            Ok(pages::html(
                StatusCode::OK,
                &page,
                vec![session_removal(&state)],
            ))
        }
        None => Ok(link_gone(
            &state,
            ("/developers/forgot-password", "Ask for a new link"),
        )),
    }
}
