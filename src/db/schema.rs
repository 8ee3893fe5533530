//! Gatehouse's own tables, in portable types shared by both backends.

diesel::table! {
    gh_users (id) {
        id -> Text,
        email -> Text,
        display_name -> Text,
        password_hash -> Text,
        role -> Text,
        disabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        totp_secret -> Nullable<Text>,
        totp_pending -> Nullable<Text>,
        totp_last_step -> BigInt,
    }
}

diesel::table! {
    gh_sessions (id) {
        id -> Text,
        user_id -> Nullable<Text>,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        ip -> Text,
        user_agent -> Text,
        stage -> Text,
        data -> Text,
    }
}

diesel::table! {
    gh_login_failures (id) {
        id -> Text,
        email -> Text,
        ip -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    gh_settings (key) {
        key -> Text,
        value -> Text,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(gh_sessions -> gh_users (user_id));
diesel::allow_tables_to_appear_in_same_query!(gh_users, gh_sessions);

diesel::table! {
    gh_audit (id) {
        id -> Text,
        created_at -> Timestamp,
        user_id -> Nullable<Text>,
        user_email -> Text,
        action -> Text,
        table_name -> Text,
        row_key -> Text,
        changes -> Text,
        via -> Text,
    }
}

diesel::table! {
    gh_roles (name) {
        name -> Text,
        description -> Text,
        builtin -> Bool,
        default_actions -> Text,
        admin_areas -> Bool,
        require_2fa -> Bool,
        created_at -> Timestamp,
        change_schema -> Bool,
        share_views -> Bool,
        run_sql -> Bool,
        write_sql -> Bool,
        require_passkey -> Bool,
    }
}

diesel::table! {
    gh_role_tables (role_name, table_name) {
        role_name -> Text,
        table_name -> Text,
        actions -> Text,
        hidden_columns -> Text,
    }
}

diesel::table! {
    gh_password_resets (id) {
        id -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    gh_recovery_codes (id) {
        id -> Text,
        user_id -> Text,
        code_hash -> Text,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    gh_api_tokens (id) {
        id -> Text,
        name -> Text,
        prefix -> Text,
        token_hash -> Text,
        role -> Text,
        created_by -> Nullable<Text>,
        created_by_email -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    gh_webhook_endpoints (id) {
        id -> Text,
        url -> Text,
        description -> Text,
        events -> Text,
        role -> Text,
        enabled -> Bool,
        secret_enc -> Text,
        old_secret_enc -> Nullable<Text>,
        old_secret_until -> Nullable<Timestamp>,
        disabled_reason -> Nullable<Text>,
        failing_since -> Nullable<Timestamp>,
        last_success_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    gh_outbox (id) {
        id -> Text,
        endpoint_id -> Text,
        event_type -> Text,
        payload -> Text,
        created_at -> Timestamp,
        next_attempt_at -> Timestamp,
        attempts -> Integer,
        status -> Text,
        locked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    gh_deliveries (id) {
        id -> Text,
        outbox_id -> Text,
        attempted_at -> Timestamp,
        status_code -> Nullable<Integer>,
        latency_ms -> BigInt,
        response_excerpt -> Text,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    gh_mail_queue (id) {
        id -> Text,
        to_addr -> Text,
        subject -> Text,
        body -> Text,
        created_at -> Timestamp,
        next_attempt_at -> Timestamp,
        attempts -> Integer,
        status -> Text,
        last_error -> Nullable<Text>,
        locked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    gh_views (id) {
        id -> BigInt,
        table_name -> Text,
        name -> Text,
        owner_id -> Text,
        query -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    gh_view_roles (view_id, role_name) {
        view_id -> BigInt,
        role_name -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(gh_views, gh_view_roles);

diesel::table! {
    gh_api_rate (token_id, window_start) {
        token_id -> Text,
        window_start -> BigInt,
        used -> BigInt,
    }
}

diesel::table! {
    gh_dashboard_pins (id) {
        id -> Text,
        owner_id -> Nullable<Text>,
        table_name -> Text,
        title -> Text,
        query -> Text,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    gh_sql_history (id) {
        id -> Text,
        user_id -> Text,
        statement -> Text,
        write_mode -> Bool,
        outcome -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    gh_sql_queries (id) {
        id -> Text,
        owner_id -> Text,
        name -> Text,
        statement -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    gh_sql_query_roles (query_id, role_name) {
        query_id -> Text,
        role_name -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(gh_sql_queries, gh_sql_query_roles);

diesel::table! {
    gh_sso_providers (id) {
        id -> Text,
        name -> Text,
        issuer -> Text,
        client_id -> Text,
        client_secret_enc -> Text,
        scopes -> Text,
        enabled -> Bool,
        create_users -> Bool,
        default_role -> Text,
        allowed_domains -> Text,
        role_claim -> Text,
        role_map -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    gh_identities (id) {
        id -> Text,
        user_id -> Text,
        provider_id -> Nullable<Text>,
        issuer -> Text,
        subject -> Text,
        email -> Text,
        created_at -> Timestamp,
        last_used_at -> Timestamp,
    }
}

diesel::table! {
    gh_sso_roles (role_name) {
        role_name -> Text,
        require_sso -> Bool,
        trust_provider_mfa -> Bool,
    }
}

diesel::table! {
    gh_passkeys (id) {
        id -> Text,
        user_id -> Text,
        credential_id -> Text,
        name -> Text,
        credential -> Text,
        passwordless -> Bool,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    gh_webauthn_challenges (id) {
        id -> Text,
        purpose -> Text,
        user_id -> Nullable<Text>,
        binding -> Text,
        state -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    gh_sql_runs (owner_id, run_id) {
        owner_id -> Text,
        run_id -> Text,
        backend_pid -> Integer,
        backend_start -> BigInt,
        started_at -> Timestamp,
    }
}

diesel::table! {
    gh_user_settings (user_id) {
        user_id -> Text,
        time_zone -> Text,
        theme -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    gh_role_rules (role, table_name, action) {
        role -> Text,
        table_name -> Text,
        action -> Text,
        rule -> Text,
        allow_move_out -> Bool,
    }
}

diesel::table! {
    gh_user_attributes (user_id, key) {
        user_id -> Text,
        key -> Text,
        value -> Text,
    }
}
