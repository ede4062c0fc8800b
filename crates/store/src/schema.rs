//! Diesel's view of the schema in `migrations/`, kept by hand in types both backends share.

diesel::table! {
    patients (id) {
        id -> Text,
        external_id -> Nullable<Text>,
        first_name -> Text,
        last_name -> Text,
        birth_date -> Date,
        email -> Nullable<Text>,
        email_normalized -> Nullable<Text>,
        phone -> Nullable<Text>,
        address_street -> Nullable<Text>,
        address_locality -> Nullable<Text>,
        address_region -> Nullable<Text>,
        address_postal_code -> Nullable<Text>,
        address_country -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    accounts (id) {
        id -> Text,
        username -> Text,
        username_normalized -> Text,
        email -> Text,
        email_normalized -> Text,
        email_verified -> Bool,
        phone -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        legacy_password_hash -> Nullable<Text>,
        security_question -> Nullable<Text>,
        security_answer_hash -> Nullable<Text>,
        status -> Text,
        legacy_id -> Nullable<Text>,
        legacy_created_at -> Nullable<Timestamp>,
        notify_email -> Bool,
        notify_sms -> Bool,
        password_changed_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    account_patients (account_id, patient_id) {
        account_id -> Text,
        patient_id -> Text,
        relationship -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    invitations (id) {
        id -> Text,
        patient_id -> Text,
        email -> Text,
        token_hash -> Text,
        pin_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        verified_at -> Nullable<Timestamp>,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        account_id -> Nullable<Text>,
    }
}

diesel::table! {
    clients (id) {
        id -> Text,
        name -> Text,
        description -> Nullable<Text>,
        logo_uri -> Nullable<Text>,
        client_uri -> Nullable<Text>,
        policy_uri -> Nullable<Text>,
        tos_uri -> Nullable<Text>,
        app_type -> Text,
        token_endpoint_auth_method -> Text,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        grant_types -> Text,
        scopes -> Text,
        jwks -> Nullable<Text>,
        jwks_uri -> Nullable<Text>,
        id_token_signed_response_alg -> Text,
        backchannel_logout_uri -> Nullable<Text>,
        require_par -> Bool,
        status -> Text,
        status_reason -> Nullable<Text>,
        developer_id -> Nullable<Text>,
        registration_access_token_hash -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    client_secrets (id) {
        id -> Text,
        client_id -> Text,
        secret_hash -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    grants (id) {
        id -> Text,
        account_id -> Text,
        client_id -> Text,
        scopes -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        token_hash -> Text,
        account_id -> Text,
        auth_time -> Timestamp,
        amr -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    authorization_codes (code_hash) {
        code_hash -> Text,
        client_id -> Text,
        account_id -> Text,
        session_id -> Nullable<Text>,
        grant_id -> Nullable<Text>,
        redirect_uri -> Text,
        scopes -> Text,
        nonce -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        code_challenge_method -> Nullable<Text>,
        auth_time -> Timestamp,
        amr -> Text,
        claims -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    token_families (id) {
        id -> Text,
        client_id -> Text,
        account_id -> Text,
        grant_id -> Nullable<Text>,
        code_hash -> Nullable<Text>,
        session_id -> Nullable<Text>,
        scopes -> Text,
        auth_time -> Timestamp,
        amr -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        family_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    access_tokens (token_hash) {
        token_hash -> Text,
        client_id -> Text,
        account_id -> Nullable<Text>,
        family_id -> Nullable<Text>,
        code_hash -> Nullable<Text>,
        session_id -> Nullable<Text>,
        scopes -> Text,
        auth_time -> Nullable<Timestamp>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        public_jwk -> Text,
        private_key_sealed -> Text,
        created_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
        unpublish_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    one_time_codes (id) {
        id -> Text,
        purpose -> Text,
        code_hash -> Text,
        account_id -> Nullable<Text>,
        subject -> Nullable<Text>,
        data -> Nullable<Text>,
        attempts -> Integer,
        max_attempts -> Integer,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    outbound_messages (id) {
        id -> Text,
        channel -> Text,
        recipient -> Text,
        subject -> Nullable<Text>,
        body_text -> Text,
        body_html -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        occurred_at -> Timestamp,
        kind -> Text,
        account_id -> Nullable<Text>,
        client_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    rate_limits (bucket) {
        bucket -> Text,
        window_start -> Timestamp,
        hits -> Integer,
    }
}

diesel::table! {
    client_assertions (client_id, jti_hash) {
        client_id -> Text,
        jti_hash -> Text,
        expires_at -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    pushed_requests (handle_hash) {
        handle_hash -> Text,
        client_id -> Text,
        params -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        opened_at -> Nullable<Timestamp>,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(account_patients -> accounts (account_id));
diesel::joinable!(account_patients -> patients (patient_id));
diesel::joinable!(invitations -> patients (patient_id));
diesel::joinable!(client_secrets -> clients (client_id));
diesel::joinable!(grants -> accounts (account_id));
diesel::joinable!(grants -> clients (client_id));
diesel::joinable!(sessions -> accounts (account_id));
diesel::joinable!(refresh_tokens -> token_families (family_id));
diesel::joinable!(access_tokens -> clients (client_id));
diesel::joinable!(access_tokens -> accounts (account_id));
diesel::joinable!(token_families -> clients (client_id));
diesel::joinable!(token_families -> accounts (account_id));
diesel::joinable!(authorization_codes -> clients (client_id));
diesel::joinable!(client_assertions -> clients (client_id));
diesel::joinable!(pushed_requests -> clients (client_id));

diesel::allow_tables_to_appear_in_same_query!(
    patients,
    accounts,
    account_patients,
    invitations,
    clients,
    client_secrets,
    grants,
    sessions,
    authorization_codes,
    token_families,
    refresh_tokens,
    access_tokens,
    signing_keys,
    one_time_codes,
    outbound_messages,
    audit_events,
    rate_limits,
    client_assertions,
    pushed_requests,
);

// Developer portal and dynamic client registration (migration 2026-11-22-000801).

diesel::table! {
    developers (id) {
        id -> Text,
        email -> Text,
        email_normalized -> Text,
        display_name -> Text,
        organization -> Nullable<Text>,
        password_hash -> Text,
        password_changed_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    developer_sessions (id) {
        id -> Text,
        token_hash -> Text,
        developer_id -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    developer_links (id) {
        id -> Text,
        purpose -> Text,
        token_hash -> Text,
        email_normalized -> Text,
        developer_id -> Nullable<Text>,
        data -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    initial_access_tokens (id) {
        id -> Text,
        token_hash -> Text,
        developer_id -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    client_registrations (client_id) {
        client_id -> Text,
        contacts -> Text,
        initial_access_token_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(developer_sessions -> developers (developer_id));
diesel::joinable!(developer_links -> developers (developer_id));
diesel::joinable!(initial_access_tokens -> developers (developer_id));
diesel::joinable!(client_registrations -> clients (client_id));

diesel::allow_tables_to_appear_in_same_query!(
    developers,
    developer_sessions,
    developer_links,
    initial_access_tokens,
    client_registrations,
    clients,
);
