//! Behaviour of the fake Google Sheets API over real HTTP.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dataforge_fake_gsheets::{FakeSheets, FakeSheetsConfig, FaultKind, Faults, Rows, Sheet, cell};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// A plain client. Built in the workspace, reqwest has rustls without a crypto provider (the
/// hooks crate picks ring explicitly), so one is installed first.
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

const KEY: &str = "AIzaFAKE_KEY";
const SCOPE: &str = "https://www.googleapis.com/auth/spreadsheets.readonly";

const SIGNATURE: &str = r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#;
const SHORT_LIVED: &str = r#"{"error":"invalid_grant","error_description":"Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."}"#;
const UNAUTHENTICATED: &str = r#"{"error":{"code":401,"message":"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.","status":"UNAUTHENTICATED"}}"#;
const API_KEY_INVALID: &str = r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"sheets.googleapis.com"}}]}}"#;
const MISSING_KEY: &str = r#"{"error":{"code":403,"message":"The request is missing a valid API key.","status":"PERMISSION_DENIED"}}"#;
const NO_PERMISSION: &str = r#"{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED"}}"#;
const NOT_FOUND: &str =
    r#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}"#;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn jwt(fake: &FakeSheets, claims: Value) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(fake.private_key_id().to_owned());
    let key = EncodingKey::from_rsa_pem(fake.private_key_pem().as_bytes()).unwrap();
    jsonwebtoken::encode(&h, &claims, &key).unwrap()
}

fn claims(fake: &FakeSheets) -> Value {
    let t = now();
    json!({
        "iss": "loader@fake-project.iam.gserviceaccount.com",
        "scope": SCOPE,
        "aud": fake.token_uri(),
        "iat": t,
        "exp": t + 3600,
    })
}

async fn post_token(fake: &FakeSheets, assertion: &str) -> (u16, String) {
    let body = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
    );
    let r = client()
        .post(fake.token_uri())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn access_token(fake: &FakeSheets) -> String {
    let (status, body) = post_token(fake, &jwt(fake, claims(fake))).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

async fn get_raw(url: &str, bearer: Option<&str>) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = client().get(url);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.text().await.unwrap())
}

/// `values.get` with the API key; `range` is percent-encoded here.
async fn values(fake: &FakeSheets, id: &str, range: &str, query: &str) -> (u16, Value) {
    let url = format!(
        "{}/v4/spreadsheets/{id}/values/{}?key={KEY}{query}",
        fake.endpoint(),
        enc(range)
    );
    let (status, _, body) = get_raw(&url, None).await;
    (status, serde_json::from_str(&body).unwrap())
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A literal spreadsheet `book` with tabs `Sheet1` (typed, ragged) and `My Sheet`.
async fn literal_fake(config: FakeSheetsConfig) -> FakeSheets {
    let fake = FakeSheets::start(config).await;
    fake.add_spreadsheet(
        "book",
        "Orders",
        vec![
            Sheet {
                title: "Sheet1".into(),
                rows: Rows::Literal(vec![
                    vec![
                        json!("id"),
                        json!("name"),
                        json!("total"),
                        json!("paid"),
                        json!("ordered_at"),
                        json!("double"),
                    ],
                    vec![
                        json!(1),
                        json!("Ann"),
                        cell::money(1234.5),
                        json!(true),
                        cell::date("2024-01-31T12:00:00", "m/d/yyyy h:mm:ss"),
                        cell::formula("=A2*2", json!(2)),
                    ],
                    vec![json!(2), json!(""), Value::Null, json!(false)],
                    vec![],
                    vec![
                        json!(3),
                        json!("Bob"),
                        json!(7.25),
                        json!(""),
                        json!(""),
                        json!(""),
                    ],
                    vec![Value::Null, Value::Null],
                    vec![],
                ]),
            },
            Sheet {
                title: "My Sheet".into(),
                rows: Rows::Literal(vec![
                    vec![json!("a"), json!("b"), json!("c"), json!("d")],
                    vec![json!("1"), json!("2"), json!("3"), json!("4")],
                ]),
            },
        ],
    );
    fake
}

#[tokio::test]
async fn token_flow_accepts_a_valid_jwt_and_rejects_bad_ones_with_exact_bodies() {
    let fake = literal_fake(FakeSheetsConfig::default()).await;
    let (status, body) = post_token(&fake, &jwt(&fake, claims(&fake))).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["access_token"]
            .as_str()
            .unwrap()
            .starts_with("ya29.fake-")
    );
    assert_eq!(v["expires_in"], 3600);
    assert_eq!(v["token_type"], "Bearer");
    let token = v["access_token"].as_str().unwrap();
    let url = format!(
        "{}/v4/spreadsheets/book/values/Sheet1!A1:B1",
        fake.endpoint()
    );
    let (status, _, body) = get_raw(&url, Some(token)).await;
    assert_eq!(status, 200, "{body}");

    // bad signature: a tampered signature, and a JWT signed by another key id
    let good = jwt(&fake, claims(&fake));
    let (head, sig) = good.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{head}.{flipped}{}", &sig[1..]);
    assert_eq!(
        post_token(&fake, &tampered).await,
        (400, SIGNATURE.to_owned())
    );
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("0000".into());
    let key = EncodingKey::from_rsa_pem(fake.private_key_pem().as_bytes()).unwrap();
    let other_kid = jsonwebtoken::encode(&h, &claims(&fake), &key).unwrap();
    assert_eq!(
        post_token(&fake, &other_kid).await,
        (400, SIGNATURE.to_owned())
    );
    let hs = jsonwebtoken::encode(
        &Header::default(),
        &claims(&fake),
        &EncodingKey::from_secret(b"secret"),
    )
    .unwrap();
    assert_eq!(post_token(&fake, &hs).await, (400, SIGNATURE.to_owned()));

    // long-lived, stale, expired
    let t = now();
    for (iat, exp) in [(t, t + 7200), (t - 3000, t + 600), (t - 200, t - 100)] {
        let mut c = claims(&fake);
        c["iat"] = json!(iat);
        c["exp"] = json!(exp);
        assert_eq!(
            post_token(&fake, &jwt(&fake, c)).await,
            (400, SHORT_LIVED.to_owned()),
            "iat {iat} exp {exp}"
        );
    }

    // wrong audience (Google's real token URI is not this fake's)
    let mut c = claims(&fake);
    c["aud"] = json!("https://oauth2.googleapis.com/token");
    assert_eq!(
        post_token(&fake, &jwt(&fake, c)).await,
        (
            400,
            r#"{"error":"invalid_grant","error_description":"Invalid JWT: Failed audience check."}"#
                .to_owned()
        )
    );
    // scope without Sheets access
    let mut c = claims(&fake);
    c["scope"] = json!("https://www.googleapis.com/auth/cloud-platform");
    let (status, body) = post_token(&fake, &jwt(&fake, c)).await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"],
        "invalid_scope"
    );
    // another service account
    let mut c = claims(&fake);
    c["iss"] = json!("someone@else.iam.gserviceaccount.com");
    let (status, body) = post_token(&fake, &jwt(&fake, c)).await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error"],
        "invalid_grant"
    );
    // drive scope among others is fine
    let mut c = claims(&fake);
    c["scope"] = json!("openid https://www.googleapis.com/auth/drive.readonly");
    assert_eq!(post_token(&fake, &jwt(&fake, c)).await.0, 200);

    let st = fake.stats();
    assert_eq!(st.token_requests, 11);
    assert_eq!(st.token_rejections, 9);
    assert_eq!(st.tokens_issued, 2);
}

#[tokio::test]
async fn key_file_is_shaped_like_googles_and_its_key_signs_accepted_jwts() {
    let fake = FakeSheets::start(FakeSheetsConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = fake.write_key_file(dir.path());
    let kf: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(kf["type"], "service_account");
    assert_eq!(kf["project_id"], "fake-project");
    assert_eq!(kf["token_uri"], fake.token_uri());
    assert_eq!(kf["private_key_id"], fake.private_key_id());
    assert_eq!(
        kf["client_email"],
        "loader@fake-project.iam.gserviceaccount.com"
    );
    let pem = kf["private_key"].as_str().unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(
        fake.public_key_pem()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    let t = now();
    let c = json!({"iss": kf["client_email"], "scope": SCOPE, "aud": kf["token_uri"], "iat": t, "exp": t + 3600});
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &c,
        &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(post_token(&fake, &token).await.0, 200);
}

#[tokio::test]
async fn values_get_gives_ragged_rows_and_omits_values_without_data() {
    let fake = literal_fake(FakeSheetsConfig::default()).await;
    let (status, v) = values(&fake, "book", "Sheet1", "").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        json!({
            "range": "Sheet1!A1:F7",
            "majorDimension": "ROWS",
            "values": [
                ["id", "name", "total", "paid", "ordered_at", "double"],
                ["1", "Ann", "$1,234.50", "TRUE", "1/31/2024 12:00:00", "2"],
                ["2", "", "", "FALSE"],
                [],
                ["3", "Bob", "7.25"],
            ]
        })
    );
    // trailing empty rows only: no `values` at all
    let (status, v) = values(&fake, "book", "Sheet1!A6:F7", "").await;
    assert_eq!(status, 200);
    assert_eq!(
        v,
        json!({"range": "Sheet1!A6:F7", "majorDimension": "ROWS"})
    );
    // empty columns only
    let (_, v) = values(&fake, "book", "Sheet1!E3:F5", "").await;
    assert_eq!(
        v,
        json!({"range": "Sheet1!E3:F5", "majorDimension": "ROWS"})
    );
    // COLUMNS: each column cut after its last non-empty cell
    let (_, v) = values(&fake, "book", "Sheet1!A1:B3", "&majorDimension=COLUMNS").await;
    assert_eq!(
        v,
        json!({"range": "Sheet1!A1:B3", "majorDimension": "COLUMNS", "values": [["id", "1", "2"], ["name", "Ann"]]})
    );
    assert_eq!(fake.stats().values_gets, 4);
}

#[tokio::test]
async fn render_options_numbers_booleans_dates_and_formulas() {
    let fake = literal_fake(FakeSheetsConfig::default()).await;
    let row2 = |v: &Value| v["values"][0].clone();
    let r = "Sheet1!A2:F2";
    let (_, v) = values(&fake, "book", r, "&valueRenderOption=UNFORMATTED_VALUE").await;
    assert_eq!(row2(&v), json!([1, "Ann", 1234.5, true, 45322.5, 2]));
    // integers are JSON integers, not 1.0
    assert!(v.to_string().contains("[1,\"Ann\""), "{v}");
    let (_, v) = values(
        &fake,
        "book",
        r,
        "&valueRenderOption=UNFORMATTED_VALUE&dateTimeRenderOption=FORMATTED_STRING",
    )
    .await;
    assert_eq!(
        row2(&v),
        json!([1, "Ann", 1234.5, true, "1/31/2024 12:00:00", 2])
    );
    let (_, v) = values(&fake, "book", r, "&valueRenderOption=FORMULA").await;
    assert_eq!(row2(&v), json!([1, "Ann", 1234.5, true, 45322.5, "=A2*2"]));
    // dateTimeRenderOption is ignored with FORMATTED_VALUE (the default)
    let (_, v) = values(&fake, "book", r, "&dateTimeRenderOption=SERIAL_NUMBER").await;
    assert_eq!(
        row2(&v),
        json!(["1", "Ann", "$1,234.50", "TRUE", "1/31/2024 12:00:00", "2"])
    );
    let (_, v) = values(&fake, "book", r, "&valueRenderOption=FORMATTED_VALUE").await;
    assert_eq!(row2(&v)[2], "$1,234.50");
    let (status, v) = values(&fake, "book", r, "&valueRenderOption=PRETTY").await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
}

#[tokio::test]
async fn batch_get_returns_one_value_range_per_range() {
    let fake = literal_fake(FakeSheetsConfig::default()).await;
    let url = format!(
        "{}/v4/spreadsheets/book/values:batchGet?key={KEY}&ranges={}&ranges={}&ranges={}&valueRenderOption=UNFORMATTED_VALUE",
        fake.endpoint(),
        enc("Sheet1!A1:B2"),
        enc("'My Sheet'!B:C"),
        enc("Sheet1!A7:B7"),
    );
    let (status, _, body) = get_raw(&url, None).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v,
        json!({
            "spreadsheetId": "book",
            "valueRanges": [
                {"range": "Sheet1!A1:B2", "majorDimension": "ROWS", "values": [["id", "name"], [1, "Ann"]]},
                {"range": "'My Sheet'!B1:C2", "majorDimension": "ROWS", "values": [["b", "c"], ["2", "3"]]},
                {"range": "Sheet1!A7:B7", "majorDimension": "ROWS"},
            ]
        })
    );
    let st = fake.stats();
    assert_eq!(st.batch_gets, 1);
    assert_eq!(st.rows_served, 4);
    assert_eq!(st.max_rows_in_one_response, 4);
    // one bad range fails the whole batch
    let url = format!(
        "{}/v4/spreadsheets/book/values:batchGet?key={KEY}&ranges=Sheet1&ranges={}",
        fake.endpoint(),
        enc("NOPE!A5:F15")
    );
    let (status, _, body) = get_raw(&url, None).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        r#"{"error":{"code":400,"message":"Unable to parse range: NOPE!A5:F15","status":"INVALID_ARGUMENT"}}"#
    );
}

#[tokio::test]
async fn a1_ranges_quoted_titles_open_ended_and_first_tab() {
    let fake = literal_fake(FakeSheetsConfig::default()).await;
    let cases = [
        (
            "'My Sheet'!A:C",
            "'My Sheet'!A1:C2",
            json!([["a", "b", "c"], ["1", "2", "3"]]),
        ),
        (
            "'My Sheet'",
            "'My Sheet'!A1:D2",
            json!([["a", "b", "c", "d"], ["1", "2", "3", "4"]]),
        ),
        ("'My Sheet'!B2", "'My Sheet'!B2", json!([["2"]])),
        (
            "Sheet1!A2:C",
            "Sheet1!A2:C7",
            json!([["1", "Ann", "$1,234.50"], ["2"], [], ["3", "Bob", "7.25"]]),
        ),
        (
            "A1:B2",
            "Sheet1!A1:B2",
            json!([["id", "name"], ["1", "Ann"]]),
        ),
        (
            "Sheet1!4:5",
            "Sheet1!A4:F5",
            json!([[], ["3", "Bob", "7.25"]]),
        ),
        ("Sheet1!$A$1:$A$2", "Sheet1!A1:A2", json!([["id"], ["1"]])),
        // past the grid: clipped
        (
            "Sheet1!A5:Z99999",
            "Sheet1!A5:F7",
            json!([["3", "Bob", "7.25"]]),
        ),
    ];
    for (range, echo, want) in cases {
        let (status, v) = values(&fake, "book", range, "").await;
        assert_eq!(status, 200, "{range}: {v}");
        assert_eq!(v["range"], echo, "{range}");
        assert_eq!(v["values"], want, "{range}");
    }
    // the raw (unencoded) `!` and `:` in the path work too
    let url = format!(
        "{}/v4/spreadsheets/book/values/Sheet1!A1:A1?key={KEY}",
        fake.endpoint()
    );
    let (status, _, body) = get_raw(&url, None).await;
    assert_eq!(
        (status, body.contains(r#""values":[["id"]]"#)),
        (200, true),
        "{body}"
    );
    // metadata: grid sizes are exactly the data
    let url = format!(
        "{}/v4/spreadsheets/book?key={KEY}&fields=sheets.properties",
        fake.endpoint()
    );
    let (_, _, body) = get_raw(&url, None).await;
    let m: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(m["spreadsheetId"], "book");
    assert_eq!(m["properties"]["title"], "Orders");
    assert_eq!(m["sheets"][0]["properties"]["title"], "Sheet1");
    assert_eq!(m["sheets"][0]["properties"]["sheetId"], 0);
    assert_eq!(m["sheets"][0]["properties"]["index"], 0);
    assert_eq!(
        m["sheets"][0]["properties"]["gridProperties"],
        json!({"rowCount": 7, "columnCount": 6})
    );
    assert_eq!(m["sheets"][1]["properties"]["title"], "My Sheet");
    assert_eq!(m["sheets"][1]["properties"]["index"], 1);
}

#[tokio::test]
async fn not_found_and_bad_ranges() {
    let fake = literal_fake(FakeSheetsConfig::default()).await;
    let url = format!(
        "{}/v4/spreadsheets/nope/values/A1?key={KEY}",
        fake.endpoint()
    );
    assert_eq!(get_raw(&url, None).await.2, NOT_FOUND);
    let url = format!("{}/v4/spreadsheets/nope?key={KEY}", fake.endpoint());
    let (status, _, body) = get_raw(&url, None).await;
    assert_eq!((status, body.as_str()), (404, NOT_FOUND));
    for range in [
        "NOPE!A5:F15",
        "Sheet1!A0:B2",
        "Sheet1!",
        "Sheet1!A",
        "Unknown",
    ] {
        let (status, v) = values(&fake, "book", range, "").await;
        assert_eq!(status, 400, "{range}");
        assert_eq!(
            v,
            json!({"error": {"code": 400, "message": format!("Unable to parse range: {range}"), "status": "INVALID_ARGUMENT"}})
        );
    }
    let st = fake.stats();
    assert_eq!((st.status_404, st.status_400), (2, 5));
}

#[tokio::test]
async fn auth_errors_have_googles_statuses_and_bodies() {
    let fake = literal_fake(FakeSheetsConfig::default()).await;
    let base = format!("{}/v4/spreadsheets/book/values/Sheet1", fake.endpoint());
    let (status, _, body) = get_raw(&base, None).await;
    assert_eq!((status, body.as_str()), (403, MISSING_KEY));
    let (status, _, body) = get_raw(&format!("{base}?key=AIzaWRONG"), None).await;
    assert_eq!((status, body.as_str()), (400, API_KEY_INVALID));
    let (status, h, body) = get_raw(&base, Some("ya29.never-issued")).await;
    assert_eq!((status, body.as_str()), (401, UNAUTHENTICATED));
    assert!(h.contains_key("www-authenticate"));
    let st = fake.stats();
    assert_eq!((st.status_400, st.status_401, st.status_403), (1, 1, 1));

    // a private sheet refuses API keys but not the service account
    let private = literal_fake(FakeSheetsConfig {
        public: false,
        ..Default::default()
    })
    .await;
    let url = format!("{}/v4/spreadsheets/book/values/Sheet1", private.endpoint());
    let (status, _, body) = get_raw(&format!("{url}?key={KEY}"), None).await;
    assert_eq!((status, body.as_str()), (403, NO_PERMISSION));
    let token = access_token(&private).await;
    assert_eq!(get_raw(&url, Some(&token)).await.0, 200);

    // not shared with the service account: bearer 403, key fine
    let unshared = literal_fake(FakeSheetsConfig {
        shared_with_service_account: false,
        ..Default::default()
    })
    .await;
    let url = format!("{}/v4/spreadsheets/book/values/Sheet1", unshared.endpoint());
    let token = access_token(&unshared).await;
    let (status, _, body) = get_raw(&url, Some(&token)).await;
    assert_eq!((status, body.as_str()), (403, NO_PERMISSION));
    assert_eq!(get_raw(&format!("{url}?key={KEY}"), None).await.0, 200);

    // API disabled in the project
    let disabled = literal_fake(FakeSheetsConfig {
        api_enabled: false,
        ..Default::default()
    })
    .await;
    let (status, v) = values(&disabled, "book", "Sheet1", "").await;
    assert_eq!(status, 403);
    assert_eq!(v["error"]["status"], "PERMISSION_DENIED");
    assert!(v["error"]["message"].as_str().unwrap().starts_with(
        "Google Sheets API has not been used in project 123 before or it is disabled."
    ));
    assert_eq!(v["error"]["details"][1]["reason"], "SERVICE_DISABLED");
}

#[tokio::test]
async fn quota_answers_429_resource_exhausted_without_retry_after() {
    let fake = literal_fake(FakeSheetsConfig {
        quota_per_minute: Some(3),
        ..Default::default()
    })
    .await;
    let url = format!(
        "{}/v4/spreadsheets/book/values/Sheet1?key={KEY}",
        fake.endpoint()
    );
    for _ in 0..3 {
        assert_eq!(get_raw(&url, None).await.0, 200);
    }
    let (status, headers, body) = get_raw(&url, None).await;
    assert_eq!(status, 429);
    assert!(!headers.contains_key("retry-after"));
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], 429);
    assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' of service 'sheets.googleapis.com'")
    );
    let info = &v["error"]["details"][0];
    assert_eq!(info["@type"], "type.googleapis.com/google.rpc.ErrorInfo");
    assert_eq!(info["reason"], "RATE_LIMIT_EXCEEDED");
    assert_eq!(
        info["metadata"]["quota_limit"],
        "ReadRequestsPerMinutePerUser"
    );
    assert_eq!(info["metadata"]["quota_limit_value"], "3");
    assert_eq!(fake.stats().status_429, 1);
    assert_eq!(fake.stats().values_gets, 3);
}

#[tokio::test]
async fn expired_tokens_get_401_until_a_new_one_is_fetched() {
    let fake = literal_fake(FakeSheetsConfig::default()).await;
    let url = format!("{}/v4/spreadsheets/book/values/Sheet1!A1", fake.endpoint());
    let token = access_token(&fake).await;
    assert_eq!(get_raw(&url, Some(&token)).await.0, 200);
    fake.expire_tokens();
    let (status, _, body) = get_raw(&url, Some(&token)).await;
    assert_eq!((status, body.as_str()), (401, UNAUTHENTICATED));
    let fresh = access_token(&fake).await;
    assert_ne!(fresh, token);
    assert_eq!(get_raw(&url, Some(&fresh)).await.0, 200);

    // a token_ttl of 1 s: expires_in 1, dead after it
    let short = literal_fake(FakeSheetsConfig {
        token_ttl: Duration::from_secs(1),
        ..Default::default()
    })
    .await;
    let (_, body) = post_token(&short, &jwt(&short, claims(&short))).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["expires_in"], 1);
    let url = format!("{}/v4/spreadsheets/book/values/Sheet1!A1", short.endpoint());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get_raw(&url, v["access_token"].as_str()).await.0, 401);
    assert_eq!(fake.stats().status_401, 1);
}

#[tokio::test]
async fn generated_200k_row_sheet_is_served_in_chunks_by_range() {
    let fake = FakeSheets::start(FakeSheetsConfig::default()).await;
    fake.add_spreadsheet(
        "big",
        "Big",
        vec![Sheet {
            title: "Data".into(),
            rows: Rows::Generated {
                rows: 200_000,
                columns: 8,
            },
        }],
    );
    let url = format!("{}/v4/spreadsheets/big?key={KEY}", fake.endpoint());
    let m: Value = serde_json::from_str(&get_raw(&url, None).await.2).unwrap();
    assert_eq!(
        m["sheets"][0]["properties"]["gridProperties"],
        json!({"rowCount": 200_001, "columnCount": 8})
    );
    let (_, v) = values(&fake, "big", "Data!A1:H1", "").await;
    assert_eq!(
        v["values"],
        json!([[
            "col_a", "col_b", "col_c", "col_d", "col_e", "col_f", "col_g", "col_h"
        ]])
    );

    let (status, v) = values(&fake, "big", "Data!A2:C10001", "").await;
    assert_eq!(status, 200);
    assert_eq!(v["range"], "Data!A2:C10001");
    let rows = v["values"].as_array().unwrap();
    assert_eq!(rows.len(), 10_000);
    assert_eq!(rows[0], json!(["1", "$79.20", "item-1-2"]));
    assert_eq!(rows[9_999][0], "10000");

    let q = "&valueRenderOption=UNFORMATTED_VALUE";
    let (_, v) = values(&fake, "big", "Data!A190002:H200001", q).await;
    let rows = v["values"].as_array().unwrap();
    assert_eq!(rows.len(), 10_000);
    assert_eq!(rows[0][0], 190_001);
    assert!(rows[0][1].is_f64() && rows[0][3].is_boolean() && rows[0][4].is_f64());
    assert_eq!(rows[9_999][0], 200_000);
    // generation is deterministic
    let (_, again) = values(&fake, "big", "Data!A190002:H190002", q).await;
    assert_eq!(again["values"][0], rows[0]);
    // the next chunk has one row left; past the end there is nothing
    let (_, v) = values(&fake, "big", "Data!A200001:H210000", q).await;
    assert_eq!(v["range"], "Data!A200001:H200001");
    assert_eq!(v["values"].as_array().unwrap().len(), 1);
    let (_, v) = values(&fake, "big", "Data!A210001:H220000", q).await;
    assert!(v.get("values").is_none(), "{v}");

    let st = fake.stats();
    assert_eq!(st.max_rows_in_one_response, 10_000);
    assert_eq!(st.rows_served, 1 + 10_000 + 10_000 + 1 + 1);
    assert_eq!(st.ranges_served[1], "Data!A2:C10001");
}

#[tokio::test]
async fn faults_give_google_5xx_bodies_and_dropped_connections() {
    let fake = literal_fake(FakeSheetsConfig {
        faults: Faults {
            rate: 1.0,
            kinds: vec![FaultKind::Status500],
        },
        ..Default::default()
    })
    .await;
    let url = format!(
        "{}/v4/spreadsheets/book/values/Sheet1?key={KEY}",
        fake.endpoint()
    );
    let (status, _, body) = get_raw(&url, None).await;
    assert_eq!(status, 500);
    assert_eq!(
        body,
        r#"{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}"#
    );
    fake.set_faults(Faults {
        rate: 1.0,
        kinds: vec![FaultKind::Status503],
    });
    let (status, _, body) = get_raw(&url, None).await;
    assert_eq!(status, 503);
    assert!(body.contains(r#""status":"UNAVAILABLE""#));
    // the token endpoint is never faulted
    assert_eq!(post_token(&fake, &jwt(&fake, claims(&fake))).await.0, 200);
    fake.set_faults(Faults {
        rate: 1.0,
        kinds: vec![FaultKind::Drop],
    });
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.is_err(), "the body must be cut");
    fake.set_faults(Faults::default());
    assert_eq!(get_raw(&url, None).await.0, 200);
    let st = fake.stats();
    assert_eq!(st.faults_injected, 3);
    assert_eq!(st.api_requests, 4);
    assert_eq!(st.values_gets, 2);
}
