//! The diagnostic codes: the public contract of the linter. Codes are never
//! reused for another meaning.

use std::fmt;

use serde::{Serialize, Serializer};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl Serialize for Severity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

macro_rules! codes {
    ($($code:ident $sev:ident $title:literal;)*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $($code),* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$code),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$code => stringify!($code)),* }
            }

            /// The usual severity (a few codes are downgraded case by case).
            pub fn severity(self) -> Severity {
                match self { $(Code::$code => Severity::$sev),* }
            }

            /// One line saying what the code is about.
            pub fn title(self) -> &'static str {
                match self { $(Code::$code => $title),* }
            }
        }
    };
}

codes! {
    R001 Error "the last event of the rules file is incomplete";
    R002 Error "a field of the rules file does not have its expected shape";
    R003 Error "two rules share an event name";
    R004 Error "recovery program path is not absolute";
    R005 Error "recovery program file does not exist";
    R006 Error "recovery type or level is empty or not an integer";
    R007 Error "Event Management fields partly filled";
    R008 Warning "resource variable not in the catalog";
    R009 Error "instance vector malformed";
    R010 Error "predicate does not parse";
    R011 Error "predicate does not type-check";
    R012 Warning "predicate and rearm predicate can be true at the same time";
    R013 Error "blank lines after the last complete event";
    R014 Warning "system event name misused or unknown";
    R015 Warning "trailing white space, tab or carriage return in a field";
    R016 Warning "predicate is constant";
    R017 Error "division or remainder by the literal 0";
    P001 Error "unknown node set";
    P002 Error "command not double-quoted";
    P003 Error "expected status is not X or 0-255";
    P004 Error "NULL missing or not last";
    P005 Warning "barrier followed by other words";
    P006 Error "unknown event script or relative command path";
    P007 Error "command file missing or not executable";
    P008 Error "file writable by others or owned by another user";
    P009 Warning "shell syntax in a command string";
    P010 Warning "barrier with nothing to synchronise";
    P011 Warning "empty recovery program";
    P012 Info "every command of the program runs on one side only";
    F001 Error "a file cannot be read";
    F002 Error "a file is not UTF-8 text";
    F003 Error "a path climbs out with `..`";
    S001 Error "site configuration is invalid";
    S002 Error "a name in the site file names nothing";
    S003 Warning "the site runs unsigned bundles";
    G001 Error "resource group names a node the site does not define";
    G002 Error "address outside its network's subnet";
    G003 Error "one address or file system in two places";
    G004 Error "a node of a group has no adapter on the group's network";
    G005 Error "resource command missing or not executable";
    G006 Error "resource group dependencies form a cycle";
    N001 Error "a file differs between nodes";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::str::FromStr for Code {
    type Err = ();

    fn from_str(s: &str) -> Result<Code, ()> {
        let s = s.trim().to_ascii_uppercase();
        Code::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or(())
    }
}
