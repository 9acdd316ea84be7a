//! Tool names follow the managed-gateway convention (`list_all_hubspot_contacts`,
//! `get_single_bigcommerce_product_by_id`, ...), so agents and prompts written for such gateways
//! keep working against deskhand.

use super::MethodKind;

pub(crate) fn tool_name(
    integration: &str,
    resource: &str,
    singular: &str,
    method: &str,
    kind: MethodKind,
) -> String {
    match kind {
        MethodKind::List => format!("list_all_{integration}_{resource}"),
        MethodKind::Get => format!("get_single_{integration}_{singular}_by_id"),
        MethodKind::Create => format!("create_a_{integration}_{singular}"),
        MethodKind::Update => format!("update_a_{integration}_{singular}_by_id"),
        MethodKind::Delete => format!("delete_a_{integration}_{singular}_by_id"),
        MethodKind::Custom { .. } | MethodKind::Composite => {
            format!("{integration}_{resource}_{method}")
        }
    }
}

/// `[A-Za-z0-9_.-]{1,128}` per the MCP tools page; snake_case identifiers keep names predictable.
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

pub(crate) fn is_valid_tool_name(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// "list_all_zoho_desk_tickets" -> "List all Zoho Desk tickets" style fallback titles.
pub(crate) fn default_title(
    resource: &str,
    singular: &str,
    method: &str,
    kind: MethodKind,
) -> String {
    let words = |s: &str| s.replace('_', " ");
    match kind {
        MethodKind::List => format!("List Zoho Desk {}", words(resource)),
        MethodKind::Get => format!("Get a Zoho Desk {}", words(singular)),
        MethodKind::Create => format!("Create a Zoho Desk {}", words(singular)),
        MethodKind::Update => format!("Update a Zoho Desk {}", words(singular)),
        MethodKind::Delete => format!("Delete a Zoho Desk {}", words(singular)),
        MethodKind::Custom { .. } | MethodKind::Composite => {
            format!("Zoho Desk {}: {}", words(resource), words(method))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_convention() {
        let n = |r, s, m, k| tool_name("zoho_desk", r, s, m, k);
        assert_eq!(
            n("tickets", "ticket", "list", MethodKind::List),
            "list_all_zoho_desk_tickets"
        );
        assert_eq!(
            n("tickets", "ticket", "get", MethodKind::Get),
            "get_single_zoho_desk_ticket_by_id"
        );
        assert_eq!(
            n(
                "ticket_comments",
                "ticket_comment",
                "create",
                MethodKind::Create
            ),
            "create_a_zoho_desk_ticket_comment"
        );
        assert_eq!(
            n("tickets", "ticket", "update", MethodKind::Update),
            "update_a_zoho_desk_ticket_by_id"
        );
        assert_eq!(
            n("tickets", "ticket", "delete", MethodKind::Delete),
            "delete_a_zoho_desk_ticket_by_id"
        );
        assert_eq!(
            n(
                "tickets",
                "ticket",
                "suggest_relevant_articles_for_ticket",
                MethodKind::Custom { read_only: true }
            ),
            "zoho_desk_tickets_suggest_relevant_articles_for_ticket"
        );
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("kb_articles"));
        assert!(!is_identifier("KB"));
        assert!(!is_identifier("1x"));
        assert!(!is_identifier(""));
        assert!(is_valid_tool_name("a.b-c_d"));
        assert!(!is_valid_tool_name("a b"));
    }
}
