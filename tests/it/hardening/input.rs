//! Input that once crashed a command or slipped past `config check`: a deeply
//! nested metric expression (stack overflow, rc 134), a control character in
//! the shared AWS credentials files (a panic in the SDK's signer, rc 101), a
//! device or FIFO as the ledger (exit 1, and `config check` said OK). Each is
//! now exit 2 with the file, and the line where there is one.

use std::path::{Path, PathBuf};

use super::{Env, stderr};

/// A copy of the release config whose prod api gets a metric expression
/// nested `depth` parentheses deep; the line the expression is on.
fn deep_expression_config(env: &Env, depth: usize) -> (PathBuf, usize) {
    let path = env.release_config("");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(
        "\n[[environment.service.metric]]\nlabel = \"errors\"\nid = \"errors\"\n\
         namespace = \"AWS/ApplicationELB\"\nmetric_name = \"HTTPCode_Target_5XX_Count\"\n\n\
         [[environment.service.metric]]\nlabel = \"deep\"\n",
    );
    let line = text.lines().count() + 1;
    text.push_str(&format!(
        "expression = \"{}errors{}\"\n",
        "(".repeat(depth),
        ")".repeat(depth)
    ));
    std::fs::write(&path, text).unwrap();
    (path, line)
}

#[test]
fn an_expression_nested_20000_deep_is_refused_with_its_line_never_a_stack_overflow() {
    let env = Env::new();
    let (cfg, line) = deep_expression_config(&env, 20_000);
    assert!(std::fs::metadata(&cfg).unwrap().len() > 40_000);
    let at = format!("{}:{line}:", cfg.display());
    for args in [
        vec!["config", "check"],
        vec!["status"],
        vec!["status", "--json"],
        vec!["promote", "api", "--to", "staging", "--tick", "1", "--yes"],
        vec!["rollback", "api", "--env", "prod", "--yes"],
        // The console: the configuration is refused before the terminal is touched.
        vec![],
    ] {
        let out = env
            .cmd()
            .arg("--config")
            .arg(&cfg)
            .args(&args)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(&at), "{args:?} names the line {at}: {err}");
        assert!(
            err.contains("expression nests 20000 levels deep") && err.contains("at most 64"),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // At the limit it is a metric like any other, read by the simulator.
    let (cfg, _) = deep_expression_config(&env, 64);
    env.cmd()
        .arg("--config")
        .arg(&cfg)
        .args(["config", "check"])
        .assert()
        .code(0);
    let out = env
        .cmd()
        .arg("--config")
        .arg(&cfg)
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{:?}: {}",
        out.status,
        stderr(&out)
    );
}

/// An ECS configuration whose endpoint answers nothing: the refusal must come
/// before any request is signed.
fn aws_config(env: &Env) -> PathBuf {
    let path = env.path("aws.toml");
    std::fs::write(
        &path,
        "[[environment]]\nname = \"dev\"\nregion = \"us-east-1\"\ncluster = \"c\"\n\
         endpoint_url = \"http://127.0.0.1:9\"\n[[environment.service]]\nname = \"api\"\n",
    )
    .unwrap();
    path
}

/// `status` with no AWS variables but the two shared files.
fn status_with_files(env: &Env, cfg: &Path, credentials: &Path, config: &Path) -> (i32, String) {
    let out = env
        .cmd()
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_DEFAULT_PROFILE")
        .env("AWS_SHARED_CREDENTIALS_FILE", credentials)
        .env("AWS_CONFIG_FILE", config)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .arg("--config")
        .arg(cfg)
        .arg("status")
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), stderr(&out))
}

#[test]
fn a_control_character_in_the_shared_credentials_files_is_named_not_a_panic() {
    let env = Env::new();
    let cfg = aws_config(&env);
    let (credentials, config) = (env.path("credentials"), env.path("config"));
    let good = "[default]\naws_access_key_id = test\naws_secret_access_key = test\n";
    for (key, value) in [
        ("aws_access_key_id", "hunter2\u{1}id"),
        ("aws_secret_access_key", "hunter2\u{1}secret"),
        ("aws_session_token", "hunter2\rtoken"),
    ] {
        let text = good
            .lines()
            .filter(|l| !l.starts_with(key))
            .chain([format!("{key} = {value}").as_str()])
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&credentials, format!("{text}\n")).unwrap();
        std::fs::write(&config, "[default]\nregion = us-east-1\n").unwrap();
        let (code, err) = status_with_files(&env, &cfg, &credentials, &config);
        assert_eq!(code, 2, "{key}: {err}");
        assert!(
            err.contains(&format!(
                "{}:{}: \"{key}\" contains a control character",
                credentials.display(),
                text.lines().count()
            )),
            "{key}: {err}"
        );
        assert!(!err.contains("panicked"), "{key}: {err}");
        assert!(!err.contains("hunter2"), "the value is never shown: {err}");
    }
    // The config file's profile, and the key set there.
    std::fs::write(&credentials, good).unwrap();
    for (text, what, line) in [
        (
            "[profile d\u{1}ev]\nregion = us-east-1\n",
            "a profile name",
            1,
        ),
        (
            "[default]\nregion = us-east-1\naws_access_key_id = te\u{1}st\n",
            "\"aws_access_key_id\"",
            3,
        ),
    ] {
        std::fs::write(&config, text).unwrap();
        let (code, err) = status_with_files(&env, &cfg, &credentials, &config);
        assert_eq!(code, 2, "{what}: {err}");
        assert!(
            err.contains(&format!(
                "{}:{line}: {what} contains a control character",
                config.display()
            )),
            "{err}"
        );
    }
    // Clean files pass this check: what follows is the unreachable endpoint.
    std::fs::write(&config, "[default]\r\nregion = us-east-1\r\n").unwrap();
    let (code, err) = status_with_files(&env, &cfg, &credentials, &config);
    assert!(!err.contains("control character"), "{err}");
    assert_ne!(code, 101, "{err}");
}

#[test]
fn a_device_or_fifo_as_the_ledger_is_a_usage_error_everywhere() {
    let env = Env::new();
    let fifo = env.path("ledger.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let fifo = fifo.display().to_string();
    for ledger in ["/dev/null", "/dev/full", fifo.as_str()] {
        let cfg = env.release_config(&format!("ledger_path = \"{ledger}\""));
        for args in [
            vec!["config", "check"],
            vec!["status"],
            vec!["audit"],
            vec!["audit", "verify"],
            vec!["approvals"],
            vec!["approve", "ABCDEF", "--yes"],
            vec!["promote", "api", "--to", "staging", "--tick", "1", "--yes"],
            vec!["rollback", "api", "--env", "staging", "--yes"],
            vec!["unlock", "--env", "staging", "--service", "api", "--yes"],
        ] {
            let out = env
                .cmd()
                .arg("--config")
                .arg(&cfg)
                .args(&args)
                .output()
                .unwrap();
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{ledger} {args:?}: {err}");
            assert!(
                err.contains(&format!("{}:1:", cfg.display()))
                    && err.contains(&format!("\"ledger_path\" \"{ledger}\""))
                    && err.contains("not a regular file"),
                "{ledger} {args:?}: {err}"
            );
            assert!(out.stdout.is_empty(), "{ledger} {args:?}");
        }
    }
    // Named on the command line, or where the default ledger lives.
    let cfg = env.release_config("");
    for args in [
        vec!["audit", "--ledger", "/dev/full"],
        vec!["approve", "ABCDEF", "--ledger", "/dev/full", "--yes"],
    ] {
        env.cmd()
            .arg("--config")
            .arg(&cfg)
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicates::str::contains(
                "audit ledger /dev/full is a character device, not a regular file",
            ));
    }
    let default = env.ledger();
    std::fs::create_dir_all(default.parent().unwrap()).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&default)
            .status()
            .unwrap()
            .success()
    );
    for args in [
        vec!["config", "check"],
        vec!["audit"],
        vec!["rollback", "api", "--env", "staging", "--yes"],
    ] {
        let out = env
            .cmd()
            .arg("--config")
            .arg(&cfg)
            .args(&args)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("is a FIFO (named pipe)"), "{args:?}: {err}");
    }
}
