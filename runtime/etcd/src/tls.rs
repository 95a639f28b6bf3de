//! TLS to etcd: the certificate authority that signed the members'
//! certificates, and this client's certificate and key when the members
//! ask for one (`--client-cert-auth`). Files are read when connecting, and
//! every problem names its file.

use std::path::{Path, PathBuf};

use etcd_client::{Certificate, Identity, TlsOptions};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EtcdTls {
    /// PEM certificate(s) of the authority the members' certificates are
    /// checked against.
    pub ca: Option<PathBuf>,
    /// PEM certificate and private key of this client.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

fn read(what: &str, p: &Path) -> Result<Vec<u8>, String> {
    let b =
        std::fs::read(p).map_err(|e| format!("cannot read the {what} `{}`: {e}", p.display()))?;
    let text = String::from_utf8_lossy(&b);
    if !text.contains("-----BEGIN ") {
        return Err(format!(
            "the {what} `{}` is not PEM (no `-----BEGIN` line)",
            p.display()
        ));
    }
    Ok(b)
}

impl EtcdTls {
    pub fn is_empty(&self) -> bool {
        *self == EtcdTls::default()
    }

    /// The options for endpoints `urls`: none for `http://` ones; an
    /// `https://` endpoint needs the authority, and a certificate comes
    /// with its key. Both kinds at once are refused.
    pub fn options(&self, urls: &[String]) -> Result<Option<TlsOptions>, String> {
        let https = urls.iter().filter(|u| u.starts_with("https://")).count();
        if https == 0 {
            if !self.is_empty() {
                return Err(format!(
                    "TLS files are given but no etcd endpoint is https:// ({})",
                    urls.join(",")
                ));
            }
            return Ok(None);
        }
        if https != urls.len() {
            return Err(format!(
                "etcd endpoints mix http:// and https:// ({}): use one",
                urls.join(",")
            ));
        }
        let ca = self.ca.as_deref().ok_or_else(|| {
            "https:// etcd endpoints need the certificate authority that signed them (--etcd-cacert)"
                .to_string()
        })?;
        let mut tls =
            TlsOptions::new().ca_certificate(Certificate::from_pem(read("CA certificate", ca)?));
        match (&self.cert, &self.key) {
            (Some(c), Some(k)) => {
                tls = tls.identity(Identity::from_pem(
                    read("client certificate", c)?,
                    read("client key", k)?,
                ));
            }
            (None, None) => {}
            (Some(_), None) => return Err("--etcd-cert needs --etcd-key".into()),
            (None, Some(_)) => return Err("--etcd-key needs --etcd-cert".into()),
        }
        Ok(Some(tls))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(u: &[&str]) -> Vec<String> {
        u.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn endpoints_and_files_must_agree() {
        let none = EtcdTls::default();
        assert!(none.options(&urls(&["http://a:2379"])).unwrap().is_none());
        let e = none.options(&urls(&["https://a:2379"])).unwrap_err();
        assert!(e.contains("--etcd-cacert"), "{e}");
        let e = none
            .options(&urls(&["https://a:2379", "http://b:2379"]))
            .unwrap_err();
        assert!(e.contains("mix"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(
            &ca,
            "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let with_ca = EtcdTls {
            ca: Some(ca.clone()),
            ..Default::default()
        };
        let e = with_ca.options(&urls(&["http://a:2379"])).unwrap_err();
        assert!(e.contains("no etcd endpoint is https://"), "{e}");
        assert!(with_ca
            .options(&urls(&["https://a:2379"]))
            .unwrap()
            .is_some());
        let half = EtcdTls {
            cert: Some(ca.clone()),
            ..with_ca.clone()
        };
        assert_eq!(
            half.options(&urls(&["https://a:2379"])).unwrap_err(),
            "--etcd-cert needs --etcd-key"
        );
        let not_pem = dir.path().join("key.der");
        std::fs::write(&not_pem, [0x30, 0x82]).unwrap();
        let e = EtcdTls {
            ca: Some(not_pem.clone()),
            ..Default::default()
        }
        .options(&urls(&["https://a:2379"]))
        .unwrap_err();
        assert!(e.contains("key.der") && e.contains("not PEM"), "{e}");
        let e = EtcdTls {
            ca: Some(dir.path().join("missing.pem")),
            ..Default::default()
        }
        .options(&urls(&["https://a:2379"]))
        .unwrap_err();
        assert!(
            e.contains("cannot read the CA certificate") && e.contains("missing.pem"),
            "{e}"
        );
    }
}
