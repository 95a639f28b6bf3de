//! Why `hacmpd` ended, mapped to the exit table (`crate::exit::TABLE`):
//! what a unit's restart policy and an operator decide on.

use std::fmt;

use hacmp_gs::GsError;

#[derive(Debug)]
pub enum DaemonError {
    /// The site or bundle given has errors, or nobody trusted signed it
    /// (exit 1).
    Site(String),
    /// Usage or I/O: a bad option, a node not of the site, etcd or the
    /// state directory that cannot be used, the warden that cannot start
    /// (exit 2).
    Usage(String),
    /// The group refused this node: another site, a second daemon with its
    /// number, an operator's stop (exit 1).
    Refused(String),
    /// This node lost the group for good (exit 3: restart it).
    Lost(GsError),
}

impl DaemonError {
    /// Its line of the exit table.
    pub fn exit_code(&self) -> u8 {
        match self {
            DaemonError::Site(_) | DaemonError::Refused(_) => crate::exit::FINDINGS,
            DaemonError::Usage(_) => crate::exit::USAGE,
            DaemonError::Lost(_) => 3,
        }
    }
}

impl From<GsError> for DaemonError {
    fn from(e: GsError) -> DaemonError {
        match e {
            GsError::Refused(why) | GsError::OtherSite(why) => DaemonError::Refused(why),
            e => DaemonError::Lost(e),
        }
    }
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaemonError::Site(why) | DaemonError::Usage(why) | DaemonError::Refused(why) => {
                f.write_str(why)
            }
            DaemonError::Lost(e) => write!(f, "{e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_end_has_its_line_of_the_exit_table() {
        let cases = [
            (DaemonError::Site("s".into()), 1),
            (DaemonError::Usage("u".into()), 2),
            (GsError::Refused("r".into()).into(), 1),
            (GsError::Expelled.into(), 3),
            (GsError::Unavailable("etcd".into()).into(), 3),
        ];
        for (e, code) in cases {
            assert_eq!(e.exit_code(), code, "{e:?}");
            let line = format!("\n  {code}  ");
            assert!(crate::exit::TABLE.contains(&line), "{code} is in the table");
        }
        assert_eq!(
            DaemonError::from(GsError::Refused("why".into())).to_string(),
            "why"
        );
    }
}
