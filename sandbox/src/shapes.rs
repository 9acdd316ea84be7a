//! The exact field set of every response, taken from Zoho's OAS (zohodesk-oas v1.0, as summarised
//! in the team's contract file). A view never carries a field its schema does not declare: list
//! items omit `description`, `cf` and `modifiedTime`, thread lists omit `content`, article lists omit
//! `answer`, and so on.

use serde_json::{Value, json};

use crate::record::{self, Record, project, s};
use crate::store::Store;

/// Ticket list item (listviewJson): no description, cf or modifiedTime.
pub(crate) const TICKET_LIST: &[&str] = &[
    "id",
    "productId",
    "phone",
    "subject",
    "dueDate",
    "channel",
    "language",
    "priority",
    "assigneeId",
    "email",
    "ticketNumber",
    "sentiment",
    "customerResponseTime",
    "statusType",
    "relationshipType",
    "contactId",
    "isArchived",
    "departmentId",
    "threadCount",
    "onholdTime",
    "lastThread",
    "source",
    "closedTime",
    "commentCount",
    "accountId",
    "responseDueDate",
    "webUrl",
    "teamId",
    "createdTime",
    "isSpam",
    "status",
    "channelCode",
    "lockedTime",
    "subCategory",
    "category",
    "layoutId",
];
/// GET /tickets/{id} (ticket_detail_response): ticketResponse plus five detail-only fields.
pub(crate) const TICKET_DETAIL: &[&str] = &[
    "id",
    "sentiment",
    "isFollowing",
    "createdBy",
    "tagCount",
    "followerCount",
    "productId",
    "phone",
    "subject",
    "dueDate",
    "channel",
    "language",
    "priority",
    "assigneeId",
    "email",
    "subCategory",
    "cf",
    "customFields",
    "description",
    "classification",
    "category",
    "status",
    "sourceTicket",
    "entitySkills",
    "modifiedTime",
    "ticketNumber",
    "statusType",
    "isArchived",
    "departmentId",
    "onholdTime",
    "source",
    "resolution",
    "closedTime",
    "approvalCount",
    "timeEntryCount",
    "isOverDue",
    "channelRelatedInfo",
    "isDeleted",
    "isTrashed",
    "responseDueDate",
    "createdTime",
    "modifiedBy",
    "isResponseOverdue",
    "channelCode",
    "customerResponseTime",
    "threadCount",
    "secondaryContacts",
    "commentCount",
    "accountId",
    "taskCount",
    "teamId",
    "attachmentCount",
    "isEscalated",
    "isSpam",
    "slaId",
    "contactId",
    "sharedDepartments",
    "layoutId",
    "layoutDetails",
    "webUrl",
    "lockedTime",
];
/// ticketResponse, returned by create, update and move.
pub(crate) const TICKET_WRITE: &[&str] = &[
    "id",
    "productId",
    "phone",
    "subject",
    "dueDate",
    "channel",
    "language",
    "priority",
    "assigneeId",
    "email",
    "subCategory",
    "cf",
    "customFields",
    "description",
    "classification",
    "category",
    "status",
    "sourceTicket",
    "entitySkills",
    "modifiedTime",
    "ticketNumber",
    "statusType",
    "isArchived",
    "departmentId",
    "onholdTime",
    "source",
    "resolution",
    "closedTime",
    "approvalCount",
    "timeEntryCount",
    "isOverDue",
    "channelRelatedInfo",
    "isDeleted",
    "isTrashed",
    "responseDueDate",
    "createdTime",
    "modifiedBy",
    "isResponseOverdue",
    "channelCode",
    "customerResponseTime",
    "threadCount",
    "secondaryContacts",
    "commentCount",
    "accountId",
    "taskCount",
    "teamId",
    "attachmentCount",
    "isEscalated",
    "isSpam",
    "slaId",
    "contactId",
    "sharedDepartments",
    "layoutId",
    "layoutDetails",
    "webUrl",
    "lockedTime",
];
/// Thread list item (threadKeys).
pub(crate) const THREAD_LIST: &[&str] = &[
    "id",
    "summary",
    "sentiment",
    "keyWords",
    "isDescriptionThread",
    "canReply",
    "visibility",
    "author",
    "channel",
    "aspects",
    "source",
    "lastRatingIconURL",
    "impersonatedUser",
    "hasAttach",
    "channelRelatedInfo",
    "respondedIn",
    "createdTime",
    "attachmentCount",
    "readReceipts",
    "contentType",
    "actions",
    "status",
    "direction",
];
/// emailThreadKeys extras. The OAS also declares content here, but the live list leaves it out (reference 5.3), so the sandbox does too.
pub(crate) const THREAD_LIST_EMAIL: &[&str] = &[
    "bcc",
    "isContentTruncated",
    "cc",
    "fullContentURL",
    "isForward",
    "replyTo",
    "attachmentIds",
    "to",
    "fromEmailAddress",
    "attachments",
    "responderId",
];
/// forumThreadKeys extras.
pub(crate) const THREAD_LIST_FORUMS: &[&str] = &[
    "isContentTruncated",
    "fullContentURL",
    "attachmentIds",
    "fromEmailAddress",
];
/// Single thread (latestThreadResponse), with content.
pub(crate) const THREAD_DETAIL: &[&str] = &[
    "id",
    "aspects",
    "sentiment",
    "keyWords",
    "impersonatedUser",
    "summary",
    "isDescriptionThread",
    "attachments",
    "isContentTruncated",
    "canReply",
    "visibility",
    "author",
    "fullContentURL",
    "channel",
    "source",
    "content",
    "hasAttach",
    "channelRelatedInfo",
    "createdTime",
    "attachmentCount",
    "actions",
    "contentType",
    "status",
    "direction",
    "readReceipts",
];
/// emailThreadResponse extras.
pub(crate) const THREAD_DETAIL_EMAIL: &[&str] = &[
    "bcc",
    "cc",
    "isForward",
    "replyTo",
    "to",
    "fromEmailAddress",
];
/// commentResponse.
pub(crate) const COMMENT: &[&str] = &[
    "id",
    "modifiedTime",
    "attachments",
    "encodedContent",
    "commentedTime",
    "isPublic",
    "contentType",
    "content",
    "commenterId",
    "commenter",
    "impersonatedUser",
];
/// agentCFResponse.
pub(crate) const AGENT: &[&str] = &[
    "id",
    "lastName",
    "extn",
    "roleId",
    "langCode",
    "mobile",
    "emailId",
    "associatedChatDepartmentIds",
    "associatedDepartmentIds",
    "firstName",
    "phone",
    "countryCode",
    "profileId",
    "rolePermissionType",
    "aboutInfo",
    "status",
    "channelExpert",
    "timeZone",
    "cf",
    "photoURL",
    "name",
    "isConfirmed",
    "zuid",
    "isZiaAgent",
];
/// commonDepartmentResponse.
pub(crate) const DEPARTMENT: &[&str] = &[
    "id",
    "isAssignToTeamEnabled",
    "chatStatus",
    "hasLogo",
    "sanitizedName",
    "isVisibleInCustomerPortal",
    "creatorId",
    "description",
    "isDefault",
    "isEnabled",
    "name",
    "createdTime",
    "nameInCustomerPortal",
];
/// teamResponse.
pub(crate) const TEAM: &[&str] = &[
    "id",
    "roles",
    "departmentId",
    "name",
    "description",
    "subTeams",
    "agents",
    "rolesWithSubordinates",
    "derivedAgents",
    "logoUrl",
];
/// Contact list item (listViewObject).
pub(crate) const CONTACT_LIST: &[&str] = &[
    "id",
    "lastName",
    "accountId",
    "firstName",
    "secondaryEmail",
    "phone",
    "mobile",
    "ownerId",
    "type",
    "email",
    "photoURL",
    "isAnonymous",
    "accountCount",
    "webUrl",
    "createdTime",
    "isEndUser",
    "zohoCRMContact",
    "customerHappiness",
    "isSpam",
];
/// Article list item (articleNewJson): no answer.
pub(crate) const ARTICLE_LIST: &[&str] = &[
    "id",
    "summary",
    "modifiedTime",
    "latestVersionStatus",
    "permission",
    "title",
    "authorId",
    "latestVersion",
    "webUrl",
    "createdTime",
    "latestPublishedVersion",
    "articleNumber",
    "permalink",
    "status",
    "departmentId",
    "creatorId",
    "modifierId",
    "dislikeCount",
    "likeCount",
    "locale",
    "ownerId",
    "latestVersionModifierId",
    "translationState",
    "isTrashed",
    "isTemplate",
    "templateUsageCount",
    "templateUsedUsersCount",
    "templateLastUpdatedTime",
    "isLocked",
    "modifiedBy",
    "viewCount",
    "translationSource",
    "owner",
    "author",
    "usageCount",
    "commentCount",
    "rootCategoryId",
    "sourceLocale",
    "translationId",
    "createdBy",
    "portalUrl",
    "feedbackCount",
    "attachmentCount",
    "availableLocaleTranslations",
    "position",
    "category",
    "categoryId",
    "latestVersionModifiedBy",
    "secondaryTitles",
];
/// translationWithRecycleBinEntityObject, the articleSuggestion item.
pub(crate) const ARTICLE_SUGGESTION: &[&str] = &[
    "id",
    "modifiedTime",
    "departmentId",
    "creatorId",
    "modifierId",
    "dislikeCount",
    "likeCount",
    "templateUsageCount",
    "templateUsedUsersCount",
    "templateLastUpdatedTime",
    "locale",
    "title",
    "ownerId",
    "latestVersionModifierId",
    "translationState",
    "isTrashed",
    "isTemplate",
    "isLocked",
    "createdTime",
    "modifiedBy",
    "articleNumber",
    "viewCount",
    "translationSource",
    "summary",
    "owner",
    "latestVersionStatus",
    "author",
    "permission",
    "authorId",
    "usageCount",
    "commentCount",
    "rootCategoryId",
    "sourceLocale",
    "translationId",
    "createdBy",
    "latestVersion",
    "webUrl",
    "portalUrl",
    "feedbackCount",
    "latestPublishedVersion",
    "attachmentCount",
    "position",
    "category",
    "permalink",
    "categoryId",
    "latestVersionModifiedBy",
    "status",
    "expiryDate",
    "recycleBinEntityId",
    "deletedTime",
    "deletedBy",
];
/// Contact detail: the list fields plus the ones only a single contact carries.
pub(crate) const CONTACT_DETAIL_EXTRA: &[&str] = &[
    "description",
    "title",
    "street",
    "city",
    "state",
    "zip",
    "country",
    "twitter",
    "facebook",
    "cf",
    "customFields",
    "modifiedTime",
    "layoutId",
];
/// Article detail: the list fields plus the body and the version/engagement details.
pub(crate) const ARTICLE_DETAIL_EXTRA: &[&str] = &[
    "answer",
    "expiryDate",
    "tags",
    "attachments",
    "currentVersion",
    "isFollowing",
    "myVote",
];

pub(crate) const TICKET_INCLUDES: &[&str] =
    &["contacts", "products", "departments", "team", "assignee"];
pub(crate) const TICKET_DETAIL_INCLUDES: &[&str] = &[
    "contacts",
    "products",
    "departments",
    "team",
    "assignee",
    "contract",
    "isRead",
    "skills",
];

pub(crate) fn ticket(store: &Store, t: &Record, fields: &[&str], include: &[String]) -> Value {
    let mut out = project(t, fields);
    for inc in include {
        match inc.as_str() {
            "contacts" => {
                let c = record::owned(t, "contactId").and_then(|id| store.contact(&id).cloned());
                let v = c.map(|c| {
                    json!({
                        "lastName": c.get("lastName").cloned().unwrap_or(Value::Null),
                        "firstName": c.get("firstName").cloned().unwrap_or(Value::Null),
                        "phone": c.get("phone").cloned().unwrap_or(Value::Null),
                        "mobile": c.get("mobile").cloned().unwrap_or(Value::Null),
                        "id": record::id(&c),
                        "type": c.get("type").cloned().unwrap_or(Value::Null),
                        "email": c.get("email").cloned().unwrap_or(Value::Null),
                        "account": Value::Null,
                        "isSpam": record::flag(&c, "isSpam"),
                    })
                });
                out.insert("contact".into(), v.unwrap_or(Value::Null));
            }
            "departments" => {
                let d =
                    record::owned(t, "departmentId").and_then(|id| store.department(&id).cloned());
                let v =
                    d.map(|d| json!({"name": s(&d, "name").unwrap_or(""), "id": record::id(&d)}));
                out.insert("department".into(), v.unwrap_or(Value::Null));
            }
            "team" => {
                let tm = record::owned(t, "teamId").and_then(|id| store.team(&id).cloned());
                let v = tm.map(|tm| {
                    json!({"name": s(&tm, "name").unwrap_or(""), "id": record::id(&tm),
                           "logoUrl": tm.get("logoUrl").cloned().unwrap_or(Value::Null)})
                });
                out.insert("team".into(), v.unwrap_or(Value::Null));
            }
            "assignee" => {
                let a = record::owned(t, "assigneeId").and_then(|id| store.agent(&id).cloned());
                let v = a.map(|a| {
                    json!({"firstName": a.get("firstName").cloned().unwrap_or(Value::Null),
                           "photoURL": a.get("photoURL").cloned().unwrap_or(Value::Null),
                           "lastName": s(&a, "lastName").unwrap_or(""), "id": record::id(&a),
                           "email": s(&a, "emailId").unwrap_or("")})
                });
                out.insert("assignee".into(), v.unwrap_or(Value::Null));
            }
            // The sandbox org has no products or contracts: Zoho answers null for an unset one.
            "products" => {
                out.insert("product".into(), Value::Null);
            }
            "contract" => {
                out.insert("contractId".into(), Value::Null);
            }
            "isRead" => {
                out.insert("isRead".into(), json!(record::flag(t, "isRead")));
            }
            "skills" => {
                out.insert("skillsInfo".into(), json!([]));
            }
            _ => {}
        }
    }
    Value::Object(out)
}

pub(crate) fn thread_list_item(th: &Record) -> Value {
    let mut fields: Vec<&str> = THREAD_LIST.to_vec();
    match s(th, "channel") {
        Some("EMAIL") => fields.extend_from_slice(THREAD_LIST_EMAIL),
        Some("FORUMS") => fields.extend_from_slice(THREAD_LIST_FORUMS),
        Some("FACEBOOK") => fields.push("facebookProfile"),
        Some("TWITTER") => fields.push("twitterProfile"),
        _ => {}
    }
    Value::Object(project(th, &fields))
}

pub(crate) fn thread_detail(th: &Record, plain_text: bool) -> Value {
    let mut fields: Vec<&str> = THREAD_DETAIL.to_vec();
    match s(th, "channel") {
        Some("EMAIL") => fields.extend_from_slice(THREAD_DETAIL_EMAIL),
        Some("FORUMS") => fields.push("fromEmailAddress"),
        Some("FACEBOOK") => fields.push("facebookProfile"),
        Some("TWITTER") => fields.push("twitterProfile"),
        _ => {}
    }
    let mut out = project(th, &fields);
    if plain_text {
        let text = crate::text::strip_html(s(th, "content").unwrap_or(""));
        out.insert("plainText".into(), json!(text));
    }
    Value::Object(out)
}

pub(crate) fn comment(c: &Record) -> Value {
    Value::Object(project(c, COMMENT))
}

pub(crate) fn agent(a: &Record) -> Value {
    Value::Object(project(a, AGENT))
}

pub(crate) fn department(d: &Record, detail: bool) -> Value {
    let mut out = project(d, DEPARTMENT);
    if detail {
        out.insert(
            "associatedAgentIds".into(),
            d.get("associatedAgentIds").cloned().unwrap_or(json!([])),
        );
    }
    Value::Object(out)
}

pub(crate) fn team(t: &Record) -> Value {
    Value::Object(project(t, TEAM))
}

pub(crate) fn contact(c: &Record, detail: bool) -> Value {
    if detail {
        let fields: Vec<&str> = CONTACT_LIST
            .iter()
            .chain(CONTACT_DETAIL_EXTRA)
            .copied()
            .collect();
        Value::Object(project(c, &fields))
    } else {
        Value::Object(project(c, CONTACT_LIST))
    }
}

pub(crate) fn article_list_item(a: &Record) -> Value {
    Value::Object(project(a, ARTICLE_LIST))
}

pub(crate) fn article_detail(a: &Record) -> Value {
    let fields: Vec<&str> = ARTICLE_LIST
        .iter()
        .chain(ARTICLE_DETAIL_EXTRA)
        .copied()
        .collect();
    Value::Object(project(a, &fields))
}

pub(crate) fn article_suggestion(a: &Record) -> Value {
    Value::Object(project(a, ARTICLE_SUGGESTION))
}
