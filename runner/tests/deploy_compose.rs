//! docker-compose.yml and the Dockerfile cannot run here, so this checks them against the binary
//! they ship: every service's command parses with the real CLI, every environment variable is one
//! the code reads, and the services point at each other consistently.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

use clap::CommandFactory;
use deskhand::cli::Cli;
use serde_json::Value;

fn repo_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn compose() -> Value {
    serde_saphyr::from_str(&repo_file("docker-compose.yml")).expect("docker-compose.yml parses")
}

/// Services that run the deskhand image.
fn deskhand_services(compose: &Value) -> Vec<(String, Value)> {
    compose["services"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, s)| {
            s["image"]
                .as_str()
                .is_some_and(|i| i.starts_with("deskhand"))
                || s.get("build").is_some()
        })
        .map(|(n, s)| (n.clone(), s.clone()))
        .collect()
}

fn command_of(service: &Value) -> Vec<String> {
    service["command"]
        .as_array()
        .expect("commands are lists, so no shell splitting is involved")
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

/// The subcommand path a command line selects (`["mcp", "serve"]`), checking on the way that
/// every `--flag` exists on the subcommand it is given to (or is global).
fn subcommand_path(args: &[String]) -> Vec<String> {
    let root = Cli::command();
    let globals: BTreeSet<String> = root
        .get_arguments()
        .filter(|a| a.is_global_set())
        .filter_map(|a| a.get_long().map(str::to_owned))
        .collect();
    let mut current = &root;
    let mut path = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if let Some(flag) = arg.strip_prefix("--") {
            let (name, inline) = match flag.split_once('=') {
                Some((n, _)) => (n, true),
                None => (flag, false),
            };
            let found = current.get_arguments().find(|a| a.get_long() == Some(name));
            assert!(
                found.is_some() || globals.contains(name),
                "`deskhand {}` has no flag --{name}",
                path.join(" ")
            );
            if let Some(a) = found
                && a.get_action().takes_values()
                && !inline
            {
                i += 1;
            }
        } else if let Some(sub) = current.find_subcommand(arg) {
            path.push(arg.clone());
            current = sub;
        }
        i += 1;
    }
    path
}

/// Every environment variable the binary reads: clap's `env =` settings, the Zoho client's
/// settings (discovered by calling its loader), and the logging filter.
fn variables_the_code_reads() -> BTreeSet<String> {
    fn walk(cmd: &clap::Command, out: &mut BTreeSet<String>) {
        for arg in cmd.get_arguments() {
            if let Some(env) = arg.get_env() {
                out.insert(env.to_string_lossy().into_owned());
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, out);
        }
    }
    let mut vars = BTreeSet::new();
    walk(&Cli::command(), &mut vars);
    let seen = std::sync::Mutex::new(Vec::new());
    let _ = zoho_desk_mcp::zoho::ZohoConfig::from_lookup(|name| {
        seen.lock().unwrap().push(name.to_owned());
        match name {
            n if n.ends_with("_URL") => Some("http://sandbox:8765".to_owned()),
            "ZOHO_DC" => None,
            "ZOHO_TIMEOUT_SECS" => Some("30".to_owned()),
            _ => Some("x".to_owned()),
        }
    });
    vars.extend(seen.into_inner().unwrap());
    vars.insert("RUST_LOG".to_owned());
    vars
}

#[test]
fn every_service_command_is_accepted_by_the_cli() {
    let compose = compose();
    let services = deskhand_services(&compose);
    let names: BTreeSet<&str> = services.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["mcp", "sandbox", "scheduler"]));
    for (name, service) in &services {
        let args = command_of(service);
        let path = subcommand_path(&args);
        let expected: &[&str] = match name.as_str() {
            "scheduler" => &["schedule"],
            "mcp" => &["mcp", "serve"],
            "sandbox" => &["sandbox"],
            _ => unreachable!(),
        };
        assert_eq!(path, expected, "{name}: {args:?}");
        // The full parse also checks every value (ports, durations, addresses).
        let parsed = Cli::try_parse_from_args(&args);
        assert!(
            parsed.is_ok(),
            "{name}: {args:?}: {}",
            parsed.err().unwrap_or_default()
        );
    }
}

trait TryParse {
    fn try_parse_from_args(args: &[String]) -> Result<(), String>;
}

impl TryParse for Cli {
    fn try_parse_from_args(args: &[String]) -> Result<(), String> {
        use clap::Parser;
        Cli::try_parse_from(std::iter::once("deskhand".to_owned()).chain(args.iter().cloned()))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

#[test]
fn every_environment_variable_is_one_the_code_reads() {
    let compose = compose();
    let known = variables_the_code_reads();
    for required in [
        "DATABASE_URL",
        "DESKHAND_METRICS_ADDR",
        "ZOHO_ORG_ID",
        "ZOHO_DESK_BASE_URL",
    ] {
        assert!(
            known.contains(required),
            "introspection missed {required}: {known:?}"
        );
    }
    for (name, service) in deskhand_services(&compose) {
        let Some(env) = service["environment"].as_object() else {
            continue;
        };
        for key in env.keys() {
            assert!(
                known.contains(key),
                "{name} sets {key}, which deskhand never reads"
            );
        }
    }
}

#[test]
fn the_services_point_at_each_other() {
    let compose = compose();
    let services = compose["services"].as_object().unwrap();
    let postgres = &services["postgres"]["environment"];
    let db_url = format!(
        "postgres://{}:{}@postgres:5432/{}",
        postgres["POSTGRES_USER"].as_str().unwrap(),
        postgres["POSTGRES_PASSWORD"].as_str().unwrap(),
        postgres["POSTGRES_DB"].as_str().unwrap()
    );
    let sandbox_args = command_of(&services["sandbox"]);
    let port = sandbox_args[sandbox_args.iter().position(|a| a == "--port").unwrap() + 1].clone();
    let sandbox_url = format!("http://sandbox:{port}");
    let creds = zoho_desk_sandbox::Credentials::default();
    for name in ["scheduler", "mcp"] {
        let env = &services[name]["environment"];
        assert_eq!(env["DATABASE_URL"], db_url.as_str(), "{name}");
        assert_eq!(env["ZOHO_DESK_BASE_URL"], sandbox_url.as_str(), "{name}");
        assert_eq!(env["ZOHO_ACCOUNTS_URL"], sandbox_url.as_str(), "{name}");
        assert_eq!(env["ZOHO_ORG_ID"], creds.org_id.as_str(), "{name}");
        assert_eq!(env["ZOHO_CLIENT_ID"], creds.client_id.as_str(), "{name}");
        assert_eq!(
            env["ZOHO_CLIENT_SECRET"],
            creds.client_secret.as_str(),
            "{name}"
        );
        assert_eq!(
            env["ZOHO_REFRESH_TOKEN"],
            creds.refresh_token.as_str(),
            "{name}"
        );
        let depends = services[name]["depends_on"].as_object().unwrap();
        assert!(
            depends.contains_key("postgres") && depends.contains_key("sandbox"),
            "{name}"
        );
    }
    // The sandbox listens beyond its own container's loopback.
    assert!(
        sandbox_args
            .windows(2)
            .any(|w| w[0] == "--host" && w[1] == "0.0.0.0")
    );
    // Replicas: nothing that would clash between two scheduler containers.
    let scheduler = &services["scheduler"];
    assert!(scheduler.get("container_name").is_none());
    assert!(
        scheduler.get("ports").is_none(),
        "a published port cannot be shared by replicas"
    );
    let args = command_of(scheduler);
    let metrics = &args[args.iter().position(|a| a == "--metrics-addr").unwrap() + 1];
    assert!(
        metrics.starts_with("0.0.0.0:"),
        "reachable by Prometheus: {metrics}"
    );
    let workflows = &args[args.iter().position(|a| a == "--workflows").unwrap() + 1];
    // The grace period fits inside Docker's stop timeout.
    let grace = &args[args.iter().position(|a| a == "--grace").unwrap() + 1];
    let grace = deskhand::workflow::parse_duration(grace).unwrap();
    let stop = deskhand::workflow::parse_duration(scheduler["stop_grace_period"].as_str().unwrap())
        .unwrap();
    assert!(
        stop > grace,
        "stop_grace_period {stop:?} must exceed --grace {grace:?}"
    );

    let dockerfile = repo_file("Dockerfile");
    assert!(dockerfile.contains("ENTRYPOINT [\"deskhand\"]"));
    assert!(
        dockerfile.contains(&format!("COPY workflows {workflows}")),
        "the image holds {workflows}"
    );
    let user = dockerfile
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the runtime stage sets a user");
    assert_ne!(user.trim(), "root");
    assert!(
        dockerfile.contains("COPY prompts /app/prompts"),
        "workflows reference ../prompts"
    );
}
