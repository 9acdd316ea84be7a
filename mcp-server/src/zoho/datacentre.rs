//! Zoho data centres. Desk and Accounts live on different hosts per DC, and a token minted by one DC's
//! accounts server is useless against another DC's Desk host, so the two are always chosen together.

use std::fmt;
use std::str::FromStr;

/// A Zoho data centre (the `ZOHO_DC` setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataCentre {
    Us,
    Eu,
    In,
    Au,
    Jp,
    Ca,
    Cn,
    Sa,
    Sg,
    Ae,
}

/// The value given for a data centre is not one Zoho Desk is served from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown Zoho data centre `{given}`; valid values: {valid}")]
pub struct UnknownDataCentre {
    pub given: String,
    pub valid: String,
}

impl DataCentre {
    pub const ALL: [DataCentre; 10] = [
        DataCentre::Us,
        DataCentre::Eu,
        DataCentre::In,
        DataCentre::Au,
        DataCentre::Jp,
        DataCentre::Ca,
        DataCentre::Cn,
        DataCentre::Sa,
        DataCentre::Sg,
        DataCentre::Ae,
    ];

    pub fn code(self) -> &'static str {
        match self {
            DataCentre::Us => "US",
            DataCentre::Eu => "EU",
            DataCentre::In => "IN",
            DataCentre::Au => "AU",
            DataCentre::Jp => "JP",
            DataCentre::Ca => "CA",
            DataCentre::Cn => "CN",
            DataCentre::Sa => "SA",
            DataCentre::Sg => "SG",
            DataCentre::Ae => "AE",
        }
    }

    /// Canada is the odd one out: it is served from `zohocloud.ca`, not `zoho.ca`.
    pub fn desk_host(self) -> &'static str {
        match self {
            DataCentre::Us => "desk.zoho.com",
            DataCentre::Eu => "desk.zoho.eu",
            DataCentre::In => "desk.zoho.in",
            DataCentre::Au => "desk.zoho.com.au",
            DataCentre::Jp => "desk.zoho.jp",
            DataCentre::Ca => "desk.zohocloud.ca",
            DataCentre::Cn => "desk.zoho.com.cn",
            DataCentre::Sa => "desk.zoho.sa",
            DataCentre::Sg => "desk.zoho.sg",
            DataCentre::Ae => "desk.zoho.ae",
        }
    }

    pub fn accounts_host(self) -> &'static str {
        match self {
            DataCentre::Us => "accounts.zoho.com",
            DataCentre::Eu => "accounts.zoho.eu",
            DataCentre::In => "accounts.zoho.in",
            DataCentre::Au => "accounts.zoho.com.au",
            DataCentre::Jp => "accounts.zoho.jp",
            DataCentre::Ca => "accounts.zohocloud.ca",
            DataCentre::Cn => "accounts.zoho.com.cn",
            DataCentre::Sa => "accounts.zoho.sa",
            DataCentre::Sg => "accounts.zoho.sg",
            DataCentre::Ae => "accounts.zoho.ae",
        }
    }

    pub fn desk_base_url(self) -> url::Url {
        https_root(self.desk_host())
    }

    pub fn accounts_url(self) -> url::Url {
        https_root(self.accounts_host())
    }
}

fn https_root(host: &str) -> url::Url {
    let mut url = url::Url::parse("https://localhost/").unwrap_or_else(|_| unreachable!());
    // The hosts are compile-time constants that are valid DNS names.
    let _ = url.set_host(Some(host));
    url
}

impl fmt::Display for DataCentre {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for DataCentre {
    type Err = UnknownDataCentre;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        DataCentre::ALL
            .into_iter()
            .find(|dc| dc.code().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownDataCentre {
                given: s.to_string(),
                valid: DataCentre::ALL
                    .iter()
                    .map(|dc| dc.code())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_insensitively() {
        assert_eq!("eu".parse::<DataCentre>(), Ok(DataCentre::Eu));
        assert_eq!(" Ca ".parse::<DataCentre>(), Ok(DataCentre::Ca));
    }

    #[test]
    fn unknown_lists_valid_values() {
        let err = "uk".parse::<DataCentre>().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`uk`"), "{text}");
        assert!(
            text.contains("US, EU, IN, AU, JP, CA, CN, SA, SG, AE"),
            "{text}"
        );
    }

    #[test]
    fn hosts_follow_the_reference_table() {
        assert_eq!(
            DataCentre::Ca.desk_base_url().as_str(),
            "https://desk.zohocloud.ca/"
        );
        assert_eq!(
            DataCentre::Au.accounts_url().as_str(),
            "https://accounts.zoho.com.au/"
        );
        for dc in DataCentre::ALL {
            assert!(dc.desk_host().starts_with("desk."));
            assert_eq!(
                dc.desk_host().trim_start_matches("desk."),
                dc.accounts_host().trim_start_matches("accounts.")
            );
        }
    }
}
