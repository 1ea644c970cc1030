//! Buckets on an S3 endpoint for tests (moto's server on 127.0.0.1, started by
//! `tuf_keys::test_support::MotoKms`), through the real aws-sdk-s3 client.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

/// The access key the tests use with moto (which accepts any).
pub const ACCESS_KEY_ID: &str = "moto-access-key";
/// The secret key the tests use with moto.
pub const SECRET_ACCESS_KEY: &str = "moto-secret-key";

/// The environment that gives a signer process moto's credentials through the standard AWS
/// chain, as production gets real ones.
pub const ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID),
    ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

/// A path-style S3 client for `endpoint` with the test credentials.
pub fn client(endpoint: &str) -> Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "tuf-testkit",
        ))
        .build();
    Client::from_conf(config)
}

/// Creates bucket `name` at `endpoint`, readable by anyone (`s3:GetObject` for `*`), as a
/// bucket that serves a public repository is; returns a client for it.
pub async fn public_bucket(endpoint: &str, name: &str) -> Client {
    let client = client(endpoint);
    client
        .create_bucket()
        .bucket(name)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create bucket {name}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        });
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{name}/*"),
        }],
    });
    client
        .put_bucket_policy()
        .bucket(name)
        .policy(policy.to_string())
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "bucket policy: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        });
    client
}

/// Every key in `bucket` under `prefix`, in S3's order.
pub async fn keys(client: &Client, bucket: &str, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let out = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("list: {}", aws_sdk_s3::error::DisplayErrorContext(e)));
        keys.extend(
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        match out.next_continuation_token() {
            Some(next) if out.is_truncated() == Some(true) => token = Some(next.to_owned()),
            _ => return keys,
        }
    }
}
