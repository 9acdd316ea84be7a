//! The prompt template engine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use deskhand::template::{Filter, Template, TemplateError};
use serde_json::{Value, json};

fn ctx() -> Value {
    json!({
        "item": {
            "subject": "Printer on fire",
            "ticketNumber": 101,
            "urgent": true,
            "assignee": null,
            "tags": ["hw", "fire"],
            "threads": [{"summary": "first"}, {"summary": "second"}],
            "cf": {"cf_region": "EU"}
        },
        "inputs": {"department_id": "42", "threshold": 0.7},
        "run": {"id": "run-1"}
    })
}

fn render(source: &str) -> Result<String, TemplateError> {
    Template::parse(source)?.render(&ctx())
}

#[test]
fn renders_nested_paths_and_array_indexes() {
    assert_eq!(
        render("{{ item.subject }} / {{item.threads.1.summary}} / {{ item.cf.cf_region }}")
            .unwrap(),
        "Printer on fire / second / EU"
    );
    assert_eq!(
        render("dept {{ inputs.department_id }} run {{ run.id }}").unwrap(),
        "dept 42 run run-1"
    );
}

#[test]
fn scalars_render_as_json_and_strings_raw() {
    assert_eq!(
        render(
            "{{ item.ticketNumber }} {{ item.urgent }} {{ inputs.threshold }} {{ item.assignee }}"
        )
        .unwrap(),
        "101 true 0.7 null"
    );
    assert_eq!(render("{{ item.tags }}").unwrap(), r#"["hw","fire"]"#);
    assert_eq!(
        render("{{ item.threads.0 }}").unwrap(),
        r#"{"summary":"first"}"#
    );
}

#[test]
fn json_filter_pretty_prints() {
    assert_eq!(
        render("{{ item.threads | json }}").unwrap(),
        "[\n  {\n    \"summary\": \"first\"\n  },\n  {\n    \"summary\": \"second\"\n  }\n]"
    );
    assert_eq!(
        render("{{ item.subject|json }}").unwrap(),
        "\"Printer on fire\""
    );
    let t = Template::parse("{{ item | json }}").unwrap();
    assert_eq!(t.placeholders().next().unwrap().filter, Filter::Json);
}

#[test]
fn missing_variable_is_an_error_with_its_position() {
    let err = render("Hello\n  {{ item.missing }} and more").unwrap_err();
    assert_eq!(
        err,
        TemplateError::Missing {
            name: "item.missing".into(),
            line: 2,
            col: 3
        }
    );
    assert_eq!(err.to_string(), "2:3: missing variable `item.missing`");
    // The name is the part that is missing, not what follows it.
    let err = render("{{ item.threads.5.summary }}").unwrap_err();
    assert!(matches!(err, TemplateError::Missing { ref name, .. } if name == "item.threads.5"));
    // Descending into a scalar is missing, too.
    assert!(matches!(
        render("{{ item.subject.length }}").unwrap_err(),
        TemplateError::Missing { .. }
    ));
    // A whole root that is absent.
    assert!(render("{{ nothing }}").is_err());
}

#[test]
fn unclosed_placeholder_is_an_error_with_its_position() {
    assert_eq!(
        Template::parse("ab\ncd {{ item.subject").unwrap_err(),
        TemplateError::Unclosed { line: 2, col: 4 }
    );
    // A `{{` inside an open placeholder means the first one was never closed.
    assert_eq!(
        Template::parse("{{ item {{ inputs.x }}").unwrap_err(),
        TemplateError::Unclosed { line: 1, col: 1 }
    );
}

#[test]
fn malformed_placeholders_are_syntax_errors() {
    for bad in [
        "{{ }}",
        "{{ item..subject }}",
        "{{ item.sub ject }}",
        "{{ item | upper }}",
        "{{ item | }}",
    ] {
        assert!(
            matches!(
                Template::parse(bad),
                Err(TemplateError::Syntax {
                    line: 1,
                    col: 1,
                    ..
                })
            ),
            "{bad}"
        );
    }
    let err = Template::parse("x {{ item | upper }}").unwrap_err();
    assert_eq!(
        err.to_string(),
        "1:3: unknown filter `upper` (the only filter is `json`)"
    );
}

#[test]
fn four_braces_escape_two() {
    assert_eq!(
        render("literal {{{{ item.subject }} and {{ item.subject }}").unwrap(),
        "literal {{ item.subject }} and Printer on fire"
    );
    assert_eq!(
        render("{ single } and }} alone").unwrap(),
        "{ single } and }} alone"
    );
    // Positions after an escape still count the characters as written.
    let err = render("{{{{ x }} {{ nope }}").unwrap_err();
    assert_eq!(err.position(), (1, 11));
}

#[test]
fn positions_count_characters_not_bytes() {
    let err = render("héllo wörld {{ nope }}").unwrap_err();
    assert_eq!(err.position(), (1, 13));
}

#[test]
fn render_value_keeps_the_type_of_a_lone_placeholder() {
    let t = Template::parse("{{ item.ticketNumber }}").unwrap();
    assert_eq!(t.render_value(&ctx()).unwrap(), json!(101));
    let t = Template::parse("#{{ item.ticketNumber }}").unwrap();
    assert_eq!(t.render_value(&ctx()).unwrap(), json!("#101"));
    let t = Template::parse("Open").unwrap();
    assert!(t.is_literal());
    assert_eq!(t.render_value(&ctx()).unwrap(), json!("Open"));
}

#[test]
fn display_writes_canonical_syntax_that_parses_back() {
    let source = "a {{{{ b {{item.subject|json}} c {{ run.id }}";
    let t = Template::parse(source).unwrap();
    assert_eq!(
        t.to_string(),
        "a {{{{ b {{ item.subject | json }} c {{ run.id }}"
    );
    let reparsed = Template::parse(&t.to_string()).unwrap();
    assert_eq!(reparsed.to_string(), t.to_string());
    assert_eq!(reparsed.render(&ctx()).unwrap(), t.render(&ctx()).unwrap());
    let names: Vec<String> = t.placeholders().map(|p| p.name()).collect();
    assert_eq!(names, ["item.subject", "run.id"]);
}
