//! The diesel schema, the same for SQLite and PostgreSQL (see migrations/).

diesel::table! {
    definitions (kind, id) {
        kind -> Text,
        id -> Text,
        body -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    tenants (id) {
        id -> BigInt,
        domain -> Text,
        email -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    users (login) {
        login -> Text,
        tenant_id -> BigInt,
        role -> Text,
        password_hash -> Text,
    }
}

diesel::table! {
    clusters (cluster_id) {
        cluster_id -> Text,
        tenant_id -> BigInt,
        alias -> Text,
        service_name -> Text,
        host_name -> Text,
        autoscale_policy -> Text,
        deployment_policy -> Text,
        cartridge_key -> Text,
        properties -> Text,
        status -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    subscriptions (id) {
        id -> BigInt,
        tenant_id -> BigInt,
        alias -> Text,
        cartridge_type -> Text,
        autoscale_policy -> Text,
        deployment_policy -> Text,
        cluster_id -> Text,
        status -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    members (member_id) {
        member_id -> Text,
        cluster_id -> Text,
        tenant_id -> BigInt,
        service_name -> Text,
        network_partition_id -> Text,
        partition_id -> Text,
        provider_type -> Text,
        instance_id -> Nullable<Text>,
        state -> Text,
        private_ips -> Text,
        public_ips -> Text,
        tags -> Text,
        last_error -> Nullable<Text>,
        termination_reason -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        initialized_at -> Nullable<BigInt>,
        started_at -> Nullable<BigInt>,
        activated_at -> Nullable<BigInt>,
        terminate_requested_at -> Nullable<BigInt>,
        terminated_at -> Nullable<BigInt>,
        cleanup_requested_at -> Nullable<BigInt>,
        action_token -> Nullable<BigInt>,
    }
}

diesel::table! {
    decision_records (cluster_id, seq) {
        cluster_id -> Text,
        seq -> BigInt,
        recorded_at -> BigInt,
        body -> Text,
    }
}

diesel::table! {
    payload_grants (token_hash) {
        token_hash -> Text,
        member_id -> Text,
        payload -> Text,
        expires_at -> BigInt,
    }
}

diesel::table! {
    leader_lease (id) {
        id -> BigInt,
        holder -> Text,
        incarnation -> Text,
        fencing_token -> BigInt,
        since_ms -> BigInt,
        expires_at_ms -> BigInt,
    }
}

diesel::table! {
    controller_reports (name) {
        name -> Text,
        body -> Text,
        updated_at -> BigInt,
    }
}
