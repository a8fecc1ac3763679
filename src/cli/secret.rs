//! `shipdeck secret set|rm|list`: secrets in the OS keyring, never printed.

use std::io::IsTerminal;

use super::setup::secret_store;
use super::{EXIT_DEGRADED, EXIT_OK, EXIT_USAGE, SecretCommand, eprint_error, term};

pub(crate) fn run_secret(command: &SecretCommand) -> i32 {
    use crate::secrets::{SecretStore, valid_name};
    let name = match command {
        SecretCommand::Set { name } | SecretCommand::Rm { name } => Some(name.as_str()),
        SecretCommand::List => None,
    };
    if let Some(n) = name.filter(|n| !valid_name(n)) {
        eprint_error(&format!(
            "secret name \"{n}\" is not allowed: use letters, digits and '_' (e.g. API_TOKEN)"
        ));
        return EXIT_USAGE;
    }
    let store = match secret_store() {
        Ok(s) => s,
        Err(e) => {
            eprint_error(&e.to_string());
            return EXIT_DEGRADED;
        }
    };
    let result = match command {
        SecretCommand::Set { name } => read_secret_value(name).and_then(|v| {
            store.set(name, &v).map_err(|e| e.to_string())?;
            Ok(format!(
                "stored secret \"{name}\" in the OS keyring; reference it as ${{secret:{name}}}\n"
            ))
        }),
        SecretCommand::Rm { name } => match store.remove(name) {
            Ok(true) => Ok(format!("deleted secret \"{name}\"\n")),
            Ok(false) => Err(format!(
                "no secret named \"{name}\"; `shipdeck secret list` shows the stored names"
            )),
            Err(e) => Err(e.to_string()),
        },
        SecretCommand::List => store.names().map_err(|e| e.to_string()).map(|names| {
            let mut out = String::new();
            for n in names {
                out.push_str(&n);
                out.push('\n');
            }
            out
        }),
    };
    match result {
        Ok(text) => {
            term::out(&text);
            EXIT_OK
        }
        Err(e) => {
            eprint_error(&e);
            EXIT_DEGRADED
        }
    }
}

/// Reads a secret value from a hidden prompt (terminal) or stdin (pipe); never from argv.
pub(crate) fn read_secret_value(name: &str) -> Result<String, String> {
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("value for {name} (input hidden): "))
            .map_err(|e| format!("cannot read the value: {e}"))?
    } else {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        s.strip_suffix('\n')
            .map_or(s.as_str(), |t| t.strip_suffix('\r').unwrap_or(t))
            .to_string()
    };
    if value.is_empty() {
        return Err("the value is empty; nothing was stored".to_string());
    }
    Ok(value)
}
