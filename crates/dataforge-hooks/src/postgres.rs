//! PostgreSQL connect: a [`Connection`] (URI) to a `tokio_postgres::Client`, TLS by `sslmode`.
//!
//! `sslmode` means what it means to libpq:
//! - `disable`: plain TCP.
//! - `prefer` (the default): TLS when the server offers it, plain otherwise; the certificate is
//!   not verified (encryption against passive eavesdropping only).
//! - `require`: TLS or nothing; the certificate is not verified.
//! - `verify-ca`: TLS, and the certificate must chain to a trusted root.
//! - `verify-full`: as `verify-ca`, and the certificate must name the host.
//!
//! TLS is rustls (no system OpenSSL). Trusted roots are the Mozilla roots (`webpki-roots`) plus
//! the PEM file named by `sslrootcert=/path/ca.pem`. Errors never contain the password: they
//! name the connection by its redacted URI.

use std::sync::Arc;
use std::time::Duration;

use dataforge_core::Connection;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio_postgres::Client;
use tokio_postgres::config::SslMode;

/// Why a PostgreSQL connection could not be opened. Never contains the password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgConnectError {
    /// The URI is not a PostgreSQL URI.
    #[error(
        "connection `{conn_id}` is not a PostgreSQL URI (scheme `{scheme}`; expected postgres:// or postgresql://)"
    )]
    Scheme {
        /// The connection id.
        conn_id: String,
        /// The scheme found.
        scheme: String,
    },
    /// `sslmode` has a value we do not support.
    #[error(
        "connection `{conn_id}`: unsupported sslmode `{mode}` (use disable, prefer or require)"
    )]
    SslMode {
        /// The connection id.
        conn_id: String,
        /// The value found.
        mode: String,
    },
    /// The `sslrootcert` file could not be read.
    #[error("connection `{conn_id}`: cannot read sslrootcert `{path}`: {reason}")]
    RootCert {
        /// The connection id.
        conn_id: String,
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The server could not be reached or refused us.
    #[error("cannot connect to PostgreSQL at {target}")]
    Connect {
        /// The redacted URI.
        target: String,
        /// The driver's error (tokio-postgres never prints the password).
        #[source]
        source: tokio_postgres::Error,
    },
}

impl PgConnectError {
    /// True when a later attempt may succeed (network trouble, server starting up), false for
    /// bad configuration and authentication failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            PgConnectError::Connect { source, .. } => is_retryable(source),
            _ => false,
        }
    }
}

/// True for errors a retry may fix: connection class `08`, serialization failure `40001`,
/// deadlock `40P01`, and I/O errors without a SQLSTATE (the server closed or never answered).
pub fn is_retryable(error: &tokio_postgres::Error) -> bool {
    match error.code() {
        Some(code) => {
            let c = code.code();
            c.starts_with("08") || c == "40001" || c == "40P01" || c == "57P03"
        }
        // No SQLSTATE: an I/O error or a closed connection, except for bad configuration.
        None => !error.to_string().starts_with("invalid configuration"),
    }
}

/// The parsed connection settings, with the TLS mode resolved.
/// How the server certificate is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verify {
    /// Not at all (`prefer`, `require`: libpq's meaning).
    None,
    /// The chain, not the host name (`verify-ca`).
    Ca,
    /// The chain and the host name (`verify-full`).
    Full,
}

fn config(conn: &Connection) -> Result<(tokio_postgres::Config, SslMode, Verify), PgConnectError> {
    if !matches!(conn.scheme(), "postgres" | "postgresql") {
        return Err(PgConnectError::Scheme {
            conn_id: conn.conn_id().to_owned(),
            scheme: conn.scheme().to_owned(),
        });
    }
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(conn.host().unwrap_or("localhost"));
    cfg.port(conn.port().unwrap_or(5432));
    let user = conn.username();
    cfg.user(if user.is_empty() { "postgres" } else { &user });
    if let Some(pw) = conn.password() {
        cfg.password(pw.expose());
    }
    let db = conn.path();
    if !db.is_empty() {
        cfg.dbname(db);
    }
    cfg.application_name(
        conn.param("application_name")
            .as_deref()
            .unwrap_or("dataforge"),
    );
    let timeout = conn
        .param("connect_timeout")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(30);
    cfg.connect_timeout(Duration::from_secs(timeout));
    let (mode, verify) = match conn.param("sslmode").as_deref() {
        None | Some("prefer") | Some("allow") => (SslMode::Prefer, Verify::None),
        Some("disable") => (SslMode::Disable, Verify::None),
        Some("require") => (SslMode::Require, Verify::None),
        Some("verify-ca") => (SslMode::Require, Verify::Ca),
        Some("verify-full") => (SslMode::Require, Verify::Full),
        Some(other) => {
            return Err(PgConnectError::SslMode {
                conn_id: conn.conn_id().to_owned(),
                mode: other.to_owned(),
            });
        }
    };
    cfg.ssl_mode(mode);
    Ok((cfg, mode, verify))
}

fn tls(
    conn: &Connection,
    verify: Verify,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, PgConnectError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = conn.param("sslrootcert") {
        let err = |reason: String| PgConnectError::RootCert {
            conn_id: conn.conn_id().to_owned(),
            path: path.clone(),
            reason,
        };
        let certs = CertificateDer::pem_file_iter(&path)
            .map_err(|e| err(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| err(e.to_string()))?;
        if certs.is_empty() {
            return Err(err("no certificate in the file".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| err(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| PgConnectError::RootCert {
            conn_id: conn.conn_id().to_owned(),
            path: String::new(),
            reason: e.to_string(),
        })?;
    let config = match verify {
        Verify::Full => builder.with_root_certificates(roots).with_no_client_auth(),
        Verify::None | Verify::Ca => {
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .map_err(|e| PgConnectError::RootCert {
                conn_id: conn.conn_id().to_owned(),
                path: conn.param("sslrootcert").unwrap_or_default(),
                reason: e.to_string(),
            })?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Verifier {
                    webpki,
                    provider,
                    verify,
                }))
                .with_no_client_auth()
        }
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Opens a client for `conn` and spawns its connection task on the current tokio runtime.
///
/// The task ends when the client is dropped; a server that closes the connection ends any
/// open transaction, which rolls back.
///
/// # Errors
/// [`PgConnectError`]: a bad URI or `sslmode`, an unreadable `sslrootcert`, or a connection or
/// authentication failure (see [`PgConnectError::is_retryable`]).
pub async fn connect(conn: &Connection) -> Result<Client, PgConnectError> {
    let (cfg, mode, verify) = config(conn)?;
    let wrap = |source| PgConnectError::Connect {
        target: conn.redacted(),
        source,
    };
    if mode == SslMode::Disable {
        let (client, connection) = cfg.connect(tokio_postgres::NoTls).await.map_err(wrap)?;
        spawn(connection);
        Ok(client)
    } else {
        let (client, connection) = cfg.connect(tls(conn, verify)?).await.map_err(wrap)?;
        spawn(connection);
        Ok(client)
    }
}

/// The certificate check for `prefer`/`require` (none, as libpq) and `verify-ca` (the chain
/// only). Handshake signatures are always verified.
#[derive(Debug)]
struct Verifier {
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    verify: Verify,
}

impl rustls::client::danger::ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls_pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use rustls::client::danger::ServerCertVerified;
        if self.verify == Verify::None {
            return Ok(ServerCertVerified::assertion());
        }
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn spawn<F>(connection: F)
where
    F: std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "postgres connection closed with an error");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(uri: &str) -> Connection {
        Connection::parse("pg", uri).expect("valid uri")
    }

    #[test]
    fn sslmode_maps_to_tls_mode() {
        let (_, m, v) = config(&conn("postgres://u@h/db")).expect("ok");
        assert_eq!((m, v), (SslMode::Prefer, Verify::None));
        let (_, m, _) = config(&conn("postgres://u@h/db?sslmode=disable")).expect("ok");
        assert_eq!(m, SslMode::Disable);
        let (_, m, v) = config(&conn("postgres://u@h/db?sslmode=verify-full")).expect("ok");
        assert_eq!((m, v), (SslMode::Require, Verify::Full));
        let (_, _, v) = config(&conn("postgres://u@h/db?sslmode=verify-ca")).expect("ok");
        assert_eq!(v, Verify::Ca);
        let (cfg, m, v) = config(&conn("postgresql://u:pw@h:6543/db?sslmode=require")).expect("ok");
        assert_eq!((m, v), (SslMode::Require, Verify::None));
        assert_eq!(cfg.get_ports(), &[6543]);
        assert_eq!(cfg.get_dbname(), Some("db"));
        assert_eq!(cfg.get_user(), Some("u"));
        let e = config(&conn("postgres://u@h/db?sslmode=sometimes")).expect_err("bad mode");
        assert!(e.to_string().contains("sometimes"), "{e}");
        let e = config(&conn("mysql://u@h/db")).expect_err("bad scheme");
        assert!(e.to_string().contains("mysql"), "{e}");
    }

    #[tokio::test]
    async fn failed_connect_never_shows_the_password() {
        // Port 1 on loopback: nothing listens there, so the connect fails fast.
        let c = conn(
            "postgres://loader:hunter2secret@127.0.0.1:1/db?sslmode=disable&connect_timeout=2",
        );
        let e = connect(&c).await.expect_err("nothing listens on port 1");
        let text = dataforge_core::error_chain(&e);
        assert!(!text.contains("hunter2secret"), "{text}");
        assert!(text.contains("loader:***@127.0.0.1:1"), "{text}");
        assert!(
            e.is_retryable(),
            "a refused connection is retryable: {text}"
        );
        let debug = format!("{e:?}");
        assert!(!debug.contains("hunter2secret"), "{debug}");
    }

    #[test]
    fn missing_root_cert_is_a_clear_error() {
        let c = conn("postgres://u@h/db?sslmode=require&sslrootcert=/nonexistent/ca.pem");
        let e = tls(&c, Verify::Full).err().expect("missing file");
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }
}
